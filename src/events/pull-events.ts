/**
 * Pull events: a manifest GET and a blob GET are `pull`s (HEAD is not), as in the reference registry. They
 * change nothing, so they are not written with an index change: they are sampled (notifications.events.pulls)
 * and written in small batches a moment later, which keeps a pull storm from becoming a write storm. A crash
 * can lose the last fraction of a second of pull events; push and delete events are never lost.
 */
import type { Registry } from '../registry/registry.ts';
import type { MetadataIndex, OutboxEvent } from '../registry/ports.ts';
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
}

export interface PullEvents {
  /** Writes what is buffered. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** Wraps the registry's manifest and blob reads so they emit sampled pull events. */
export function emitPullEvents(registry: Registry, index: MetadataIndex, options: PullEventOptions): PullEvents {
  const random = options.random ?? Math.random;
  let buffer: OutboxEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> = Promise.resolve();

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const batch = buffer;
    buffer = [];
    if (batch.length > 0) {
      writing = writing.then(() => index.appendEvents(batch)).then(() => options.onStored?.()).catch((err: unknown) => options.logger.warn({ err, events: batch.length }, 'could not store pull events'));
    }
    return writing;
  };
  const record = (event: OutboxEvent): void => {
    buffer.push(event);
    if (buffer.length >= 500) void flush();
    else timer ??= setTimeout(() => void flush(), options.flushMs ?? 200);
  };
  const sampled = (): boolean => options.sampleRate >= 1 || (options.sampleRate > 0 && random() < options.sampleRate);

  const manifests = registry.manifests;
  const get = manifests.get.bind(manifests);
  manifests.get = async (repository, reference) => {
    const manifest = await get(repository, reference);
    if (sampled()) {
      const target = {
        mediaType: manifest.mediaType,
        size: manifest.size,
        digest: manifest.digest,
        repository,
        ...(reference.kind === 'tag' ? { tag: reference.tag } : {}),
      };
      record(registryEvent('pull', target, currentRequest(), options.source, new Date()));
    }
    return manifest;
  };
  const blobs = registry.blobs;
  const open = blobs.open.bind(blobs);
  blobs.open = async (repository, digest, range) => {
    const stream = await open(repository, digest, range);
    const request = currentRequest();
    if (request?.method === 'GET' && sampled()) {
      const size = await index.repositoryBlobSize(repository, digest.value);
      record(registryEvent('pull', { mediaType: BLOB_MEDIA_TYPE, ...(size !== undefined ? { size } : {}), digest: digest.value, repository }, request, options.source, new Date()));
    }
    return stream;
  };
  return { flush, stop: flush };
}
