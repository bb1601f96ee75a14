/**
 * The blob use cases with a pull-through cache in front: a blob linked here is served as always; a missing
 * one is looked up upstream (HEAD for its size) and downloaded once, however many clients ask at the same
 * time (blob-fetch.ts): the first request starts the download, every later one follows it from the bytes
 * that have arrived. Pushes and deletes in a purely proxied repository are refused.
 */
import { mkdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Blobs } from '../registry/blobs/blobs.ts';
import type { BlobUseCases } from '../registry/registry.ts';
import { RegistryError } from '../registry/errors.ts';
import type { Digest } from '../registry/model/digest.ts';
import type { LinkResult } from '../registry/ports.ts';
import { BlobFetch } from './blob-fetch.ts';
import { deniedError, pushRefused, upstreamError, upstreamKey, type PullThroughContext } from './pull-through-context.ts';
import type { UpstreamRoute } from './upstream-router.ts';
import { UpstreamFailure } from './client/upstream-failure.ts';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export class ProxiedBlobs implements BlobUseCases {
  /** Downloads under way, by repository and digest. */
  private readonly fetches = new Map<string, BlobFetch>();
  private readonly starting = new Map<string, Promise<BlobFetch>>();
  /** Upstream HEADs under way: concurrent requests for one missing blob ask once. */
  private readonly heads = new Map<string, Promise<number>>();

  constructor(
    private readonly inner: Blobs,
    private readonly pt: PullThroughContext,
  ) {
    mkdirSync(pt.spoolDir, { recursive: true });
  }

  async stat(repository: string, digest: Digest): Promise<number> {
    const route = this.pt.router.select(repository);
    if (!route) return this.inner.stat(repository, digest);
    if (route.denied) throw deniedError(route, repository);
    try {
      const size = await this.inner.stat(repository, digest);
      this.pt.metrics.hits.inc({ upstream: route.settings.name, kind: 'blob' });
      return size;
    } catch (error) {
      if (!RegistryError.is(error) || error.code !== 'BLOB_UNKNOWN') throw error;
    }
    const key = fetchKey(repository, digest);
    const running = this.fetches.get(key);
    if (running && !running.failed) return running.size;
    const starting = this.starting.get(key);
    if (starting) return (await starting).size;
    let head = this.heads.get(key);
    if (!head) {
      head = this.upstreamSize(route, digest);
      this.heads.set(key, head);
      // A GET usually follows a HEAD at once: keep the answer a few seconds so it is not asked again.
      void head.then(
        () => setTimeout(() => this.heads.delete(key), 5_000).unref(),
        () => this.heads.delete(key),
      );
    }
    const size = await head;
    // Bytes already cached for another repository: link them here (the upstream just confirmed the blob).
    const stored = await this.pt.storage.blobSize(digest);
    if (stored !== undefined && stored === size) {
      if ((await this.inner.link(repository, digest, size)) === 'linked') return size;
    }
    return size;
  }

  async open(repository: string, digest: Digest, range?: { start: number; end: number }): Promise<Readable> {
    const route = this.pt.router.select(repository);
    if (!route) return this.inner.open(repository, digest, range);
    if (route.denied) throw deniedError(route, repository);
    try {
      return await this.inner.open(repository, digest, range);
    } catch (error) {
      if (!RegistryError.is(error) || error.code !== 'BLOB_UNKNOWN') throw error;
    }
    const key = fetchKey(repository, digest);
    const running = this.fetches.get(key);
    if (running?.failed) this.fetches.delete(key);
    else if (running && !running.verified) {
      this.pt.metrics.sharedWaiters.inc({ upstream: route.settings.name });
      return running.reader(range);
    }
    else if (running) return this.inner.open(repository, digest, range);
    let starting = this.starting.get(key);
    if (starting) {
      this.pt.metrics.sharedWaiters.inc({ upstream: route.settings.name });
    } else {
      starting = this.startFetch(route, repository, digest);
      this.starting.set(key, starting);
      void starting.then(
        () => this.starting.delete(key),
        () => this.starting.delete(key),
      );
    }
    const fetch = await starting;
    // No await between this check and reader(): the reader holds the spool before the fetch can let go of it.
    if (fetch.verified) return this.inner.open(repository, digest, range);
    return fetch.reader(range);
  }

  async delete(repository: string, digest: Digest): Promise<void> {
    this.refuseInProxied(repository);
    return this.inner.delete(repository, digest);
  }

  async mount(repository: string, digest: Digest, from: string | undefined): Promise<boolean> {
    this.refuseInProxied(repository);
    return this.inner.mount(repository, digest, from);
  }

  checkQuota(repository: string, digest: Digest, size: number): Promise<void> {
    return this.inner.checkQuota(repository, digest, size);
  }

  link(repository: string, digest: Digest, size: number): Promise<LinkResult> {
    return this.inner.link(repository, digest, size);
  }

  private refuseInProxied(repository: string): void {
    const route = this.pt.router.select(repository);
    if (route?.mode === 'proxied') throw pushRefused(route, repository);
  }

  /** The blob's size upstream (HEAD), remembering a 404 for a while. */
  private async upstreamSize(route: UpstreamRoute, digest: Digest): Promise<number> {
    const key = upstreamKey(route, digest.value);
    if (this.pt.notFound.has(key)) throw blobUnknown(digest);
    this.pt.metrics.misses.inc({ upstream: route.settings.name, kind: 'blob' });
    let head: Awaited<ReturnType<typeof route.client.headBlob>>;
    try {
      head = await route.client.headBlob(route.remoteName, digest.value);
    } catch (error) {
      throw this.failed(route, error, digest);
    }
    if (head === 'not-found') {
      this.pt.notFound.add(key, this.pt.notFoundTtlMs);
      throw blobUnknown(digest);
    }
    if (head.size === undefined) throw this.failed(route, new UpstreamFailure(route.settings.name, 'invalid', `upstream ${route.settings.name} did not give the blob's size`), digest);
    if (head.size === 0 && digest.value !== EMPTY_SHA256) throw this.failed(route, new UpstreamFailure(route.settings.name, 'invalid', `upstream ${route.settings.name} claims ${digest.value} is empty`), digest);
    return head.size;
  }

  private async startFetch(route: UpstreamRoute, repository: string, digest: Digest): Promise<BlobFetch> {
    const name = route.settings.name;
    this.pt.metrics.misses.inc({ upstream: name, kind: 'blob' });
    let response: Awaited<ReturnType<typeof route.client.getBlob>>;
    try {
      response = await route.client.getBlob(route.remoteName, digest.value);
    } catch (error) {
      throw this.failed(route, error, digest);
    }
    if (response === 'not-found') {
      this.pt.notFound.add(upstreamKey(route, digest.value), this.pt.notFoundTtlMs);
      throw blobUnknown(digest);
    }
    if (response.size === undefined) {
      response.body.destroy();
      throw this.failed(route, new UpstreamFailure(name, 'invalid', `upstream ${name} did not give the blob's size`), digest);
    }
    const key = fetchKey(repository, digest);
    const fetch = BlobFetch.start({
      upstream: name,
      repository,
      digest,
      size: response.size,
      body: response.body,
      storage: this.pt.storage,
      spoolDir: this.pt.spoolDir,
      logger: this.pt.logger,
      link: async (size) => {
        await this.inner.link(repository, digest, size);
      },
      onBytes: (count) => this.pt.metrics.upstreamBytes.inc({ upstream: name }, count),
      onFailure: (reason) => this.pt.metrics.upstreamErrors.inc({ upstream: name, reason }),
    });
    this.fetches.set(key, fetch);
    void fetch.finished.then(() => {
      if (this.fetches.get(key) === fetch) this.fetches.delete(key);
    });
    return fetch;
  }

  private failed(route: UpstreamRoute, error: unknown, digest: Digest): unknown {
    if (UpstreamFailure.is(error)) {
      this.pt.metrics.upstreamErrors.inc({ upstream: route.settings.name, reason: error.kind });
      this.pt.logger.warn({ upstream: route.settings.name, repository: route.remoteName, digest: digest.value, err: error.message }, 'upstream failed: blob not cached');
    }
    return upstreamError(error);
  }
}

function fetchKey(repository: string, digest: Digest): string {
  return `${repository}@${digest.value}`;
}

function blobUnknown(digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: digest.value });
}
