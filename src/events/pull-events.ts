/**
 * Pull events: a manifest GET and a blob GET are `pull`s (HEAD is not), as in the reference registry. They
 * come from decorators around the registry's manifest and blob use cases (outside any other decorator, such
 * as the pull-through cache's). A pull changes nothing, so its event is not written with an index change:
 * pulls are sampled (notifications.events.pulls) and their events written in small batches a moment later,
 * which keeps a pull storm from becoming a write storm. A crash can lose the last fraction of a second of
 * pull events; push and delete events are never lost.
 *
 * Nor are pulls recorded while nobody could receive them (`wanted`: no endpoint configured and no webhook,
 * as the dispatcher last saw — at most about two seconds old): writing an event per pull only for the
 * dispatcher to read it back and drop it cost a manifest GET about a third of its CPU. A webhook created on
 * another process or replica therefore starts getting pulls within about two seconds of its creation.
 */
import type { Readable } from 'node:stream';
import type { BlobUseCases, ManifestUseCases } from '../registry/registry.ts';
import type { MetadataIndex, OutboxEvent } from '../registry/ports.ts';
import type { Digest } from '../registry/model/digest.ts';
import type { Reference } from '../registry/model/reference.ts';
import type { StoredManifest } from '../registry/manifests/manifests.ts';
import type { Logger } from '../observability/logger.ts';
import { BLOB_MEDIA_TYPE, registryEvent, type EventSource } from './event-model.ts';
import { currentRequest } from './request-context.ts';

export interface PullEventOptions {
  /** Share of pulls that emit an event: 1 all, 0 none. */
  sampleRate: number;
  source: EventSource;
  logger: Logger;
  /** How long events wait to be written together (default 200 ms). */
  flushMs?: number;
  random?: () => number;
  /** Called after a batch was stored. */
  onStored?: () => void;
  /** Whether anybody could receive a pull event now (default: always). */
  wanted?: () => boolean;
}

/** Buffers sampled pull events and writes them in batches. */
export class PullEventRecorder {
  private buffer: OutboxEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly random: () => number;

  constructor(
    private readonly index: MetadataIndex,
    private readonly options: PullEventOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** Whether this pull is one of the sampled. */
  sampled(): boolean {
    const rate = this.options.sampleRate;
    if (this.options.wanted && !this.options.wanted()) return false;
    return rate >= 1 || (rate > 0 && this.random() < rate);
  }

  record(target: Parameters<typeof registryEvent>[1]): void {
    this.buffer.push(registryEvent('pull', target, currentRequest(), this.options.source, new Date()));
    if (this.buffer.length >= 500) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.options.flushMs ?? 200);
  }

  /** Writes what is buffered. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length > 0) {
      this.writing = this.writing
        .then(() => this.index.appendEvents(batch))
        .then(() => this.options.onStored?.())
        .catch((err: unknown) => this.options.logger.warn({ err, events: batch.length }, 'could not store pull events'));
    }
    return this.writing;
  }

  /** Decorators for the registry's manifest and blob use cases. */
  decorators(): { manifests(inner: ManifestUseCases): ManifestUseCases; blobs(inner: BlobUseCases): BlobUseCases } {
    return { manifests: (inner) => new PullRecordingManifests(inner, this), blobs: (inner) => new PullRecordingBlobs(inner, this) };
  }
}

class PullRecordingManifests implements ManifestUseCases {
  constructor(
    private readonly inner: ManifestUseCases,
    private readonly recorder: PullEventRecorder,
  ) {}

  async get(repository: string, reference: Reference): Promise<StoredManifest> {
    const manifest = await this.inner.get(repository, reference);
    if (this.recorder.sampled()) {
      const tag = reference.kind === 'tag' ? { tag: reference.tag } : {};
      this.recorder.record({ mediaType: manifest.mediaType, size: manifest.size, digest: manifest.digest, repository, ...tag });
    }
    return manifest;
  }

  describe(...args: Parameters<ManifestUseCases['describe']>): ReturnType<ManifestUseCases['describe']> {
    return this.inner.describe(...args);
  }
  put(...args: Parameters<ManifestUseCases['put']>): ReturnType<ManifestUseCases['put']> {
    return this.inner.put(...args);
  }
  delete(...args: Parameters<ManifestUseCases['delete']>): ReturnType<ManifestUseCases['delete']> {
    return this.inner.delete(...args);
  }
}

class PullRecordingBlobs implements BlobUseCases {
  constructor(
    private readonly inner: BlobUseCases,
    private readonly recorder: PullEventRecorder,
  ) {}

  async open(repository: string, digest: Digest, range?: { start: number; end: number }): Promise<Readable> {
    const stream = await this.inner.open(repository, digest, range);
    if (currentRequest()?.method === 'GET' && this.recorder.sampled()) {
      const size = await this.inner.stat(repository, digest).catch(() => undefined);
      this.recorder.record({ mediaType: BLOB_MEDIA_TYPE, ...(size !== undefined ? { size } : {}), digest: digest.value, repository });
    }
    return stream;
  }

  /** A download redirected to the object store is a pull too (the reference reports it the same way). */
  async directUrl(repository: string, digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    const url = await this.inner.directUrl(repository, digest, method);
    if (url !== undefined && method === 'GET' && this.recorder.sampled()) {
      const size = await this.inner.stat(repository, digest).catch(() => undefined);
      this.recorder.record({ mediaType: BLOB_MEDIA_TYPE, ...(size !== undefined ? { size } : {}), digest: digest.value, repository });
    }
    return url;
  }

  stat(...args: Parameters<BlobUseCases['stat']>): ReturnType<BlobUseCases['stat']> {
    return this.inner.stat(...args);
  }
  delete(...args: Parameters<BlobUseCases['delete']>): ReturnType<BlobUseCases['delete']> {
    return this.inner.delete(...args);
  }
  mount(...args: Parameters<BlobUseCases['mount']>): ReturnType<BlobUseCases['mount']> {
    return this.inner.mount(...args);
  }
  checkQuota(...args: Parameters<BlobUseCases['checkQuota']>): ReturnType<BlobUseCases['checkQuota']> {
    return this.inner.checkQuota(...args);
  }
  link(...args: Parameters<BlobUseCases['link']>): ReturnType<BlobUseCases['link']> {
    return this.inner.link(...args);
  }
}
