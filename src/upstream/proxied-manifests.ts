/**
 * The manifest use cases with a pull-through cache in front.
 * - By digest: served from the cache when there; otherwise fetched, its digest verified, and cached for good.
 * - By tag: a cached tag is served as is within its TTL (`local-first`: always); after it, the upstream is
 *   asked with a HEAD and the tag moved when its digest changed. When the upstream fails, times out or
 *   rate-limits, a cached tag is served anyway, with a `Warning` header and a log line; an uncached one
 *   gets a clear error naming the upstream failure. Upstream 404s are remembered for a short while.
 * Concurrent requests for the same uncached manifest share one upstream request. Pushes and deletes in a
 * purely proxied repository are refused.
 */
import type { Manifests, PutResult, StoredManifest } from '../registry/manifests/manifests.ts';
import type { ManifestUseCases } from '../registry/registry.ts';
import { RegistryError } from '../registry/errors.ts';
import { digestOf, parseDigest } from '../registry/model/digest.ts';
import type { Reference } from '../registry/model/reference.ts';
import type { ManifestRecord } from '../registry/ports.ts';
import { UpstreamFailure } from './client/upstream-failure.ts';
import { deniedError, pushRefused, upstreamError, upstreamKey, type PullThroughContext } from './pull-through-context.ts';
import type { UpstreamRoute } from './upstream-router.ts';

export class ProxiedManifests implements ManifestUseCases {
  private readonly pending = new Map<string, Promise<ManifestRecord>>();

  constructor(
    private readonly inner: Manifests,
    private readonly pt: PullThroughContext,
  ) {}

  describe(repository: string, reference: Reference): Promise<ManifestRecord> {
    return this.resolve(repository, reference);
  }

  async get(repository: string, reference: Reference): Promise<StoredManifest> {
    if (!this.pt.router.select(repository)) return this.inner.get(repository, reference);
    const record = await this.resolve(repository, reference);
    const stored = await this.inner.get(repository, { kind: 'digest', digest: parseDigest(record.digest) });
    return record.warning ? { ...stored, warning: record.warning } : stored;
  }

  put(repository: string, reference: Reference, body: Buffer, contentType: string | undefined, options?: { trustReferences?: boolean }): Promise<PutResult> {
    const route = this.pt.router.select(repository);
    if (route?.mode === 'proxied') throw pushRefused(route, repository);
    return this.inner.put(repository, reference, body, contentType, options);
  }

  delete(repository: string, reference: Reference): Promise<void> {
    const route = this.pt.router.select(repository);
    if (route?.mode === 'proxied') throw pushRefused(route, repository);
    return this.inner.delete(repository, reference);
  }

  private async resolve(repository: string, reference: Reference): Promise<ManifestRecord> {
    const route = this.pt.router.select(repository);
    if (!route) return this.inner.describe(repository, reference);
    if (route.denied) throw deniedError(route, repository);
    const local = await this.inner.describe(repository, reference).catch((error: unknown) => {
      if (RegistryError.is(error) && error.code === 'MANIFEST_UNKNOWN') return undefined;
      throw error;
    });
    const what = reference.kind === 'tag' ? reference.tag : reference.digest.value;
    const key = upstreamKey(route, what);
    const name = route.settings.name;
    if (local && (reference.kind === 'digest' || route.mode === 'local-first' || this.pt.freshTags.has(key))) {
      this.pt.metrics.hits.inc({ upstream: name, kind: 'manifest' });
      this.pt.records.touch(repository, local.digest);
      return local;
    }
    if (!local && this.pt.notFound.has(key)) throw unknown(repository, what);
    let pending = this.pending.get(`${repository}\n${key}`);
    if (!pending) {
      pending = this.fromUpstream(route, repository, reference, local);
      this.pending.set(`${repository}\n${key}`, pending);
      void pending.then(
        () => this.pending.delete(`${repository}\n${key}`),
        () => this.pending.delete(`${repository}\n${key}`),
      );
    }
    return pending;
  }

  /** Revalidates a cached tag, or fetches what is not cached; falls back to the cached tag on failure. */
  private async fromUpstream(route: UpstreamRoute, repository: string, reference: Reference, local: ManifestRecord | undefined): Promise<ManifestRecord> {
    const name = route.settings.name;
    const what = reference.kind === 'tag' ? reference.tag : reference.digest.value;
    const key = upstreamKey(route, what);
    try {
      if (local && reference.kind === 'tag') {
        const head = await route.client.headManifest(route.remoteName, reference.tag);
        if (head === 'not-found') throw new UpstreamFailure(name, 'status', `upstream ${name} no longer has tag ${reference.tag}`);
        if (head.digest === local.digest) {
          this.pt.freshTags.add(key, route.settings.tagTtlMs);
          this.pt.metrics.hits.inc({ upstream: name, kind: 'manifest' });
          this.pt.records.touch(repository, local.digest);
          return local;
        }
      }
      this.pt.metrics.misses.inc({ upstream: name, kind: 'manifest' });
      const fetched = await route.client.getManifest(route.remoteName, what);
      if (fetched === 'not-found') {
        if (local) throw new UpstreamFailure(name, 'status', `upstream ${name} no longer has tag ${what}`);
        this.pt.notFound.add(key, this.pt.notFoundTtlMs);
        throw unknown(repository, what);
      }
      const algorithm = reference.kind === 'digest' ? reference.digest.algorithm : 'sha256';
      const digest = digestOf(fetched.body, algorithm);
      if (reference.kind === 'digest' && digest.value !== reference.digest.value) {
        throw new UpstreamFailure(name, 'invalid', `upstream ${name} sent a manifest whose digest is ${digest.value}, not ${reference.digest.value}`);
      }
      if (fetched.digest?.startsWith(`${algorithm}:`) && fetched.digest !== digest.value) {
        throw new UpstreamFailure(name, 'invalid', `upstream ${name} sent a manifest whose digest is ${digest.value}, not the ${fetched.digest} it announced`);
      }
      await this.inner.put(repository, reference, fetched.body, fetched.mediaType, { trustReferences: true });
      this.pt.records.recordCached(repository, digest.value, fetched.body);
      if (reference.kind === 'tag') this.pt.freshTags.add(key, route.settings.tagTtlMs);
      return await this.inner.describe(repository, { kind: 'digest', digest });
    } catch (error) {
      if (!UpstreamFailure.is(error)) throw error;
      this.pt.metrics.upstreamErrors.inc({ upstream: name, reason: error.kind });
      if (local) {
        this.pt.metrics.staleServed.inc({ upstream: name });
        this.pt.records.touch(repository, local.digest);
        this.pt.logger.warn({ upstream: name, repository, tag: what, digest: local.digest, err: error.message }, 'upstream failed: serving the cached tag');
        return { ...local, warning: `110 pier "Response is stale: ${headerSafe(error.message)}"` };
      }
      this.pt.logger.warn({ upstream: name, repository, reference: what, err: error.message }, 'upstream failed: manifest not cached');
      throw upstreamError(error);
    }
  }
}

function unknown(repository: string, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name: repository, reference });
}

function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, ' ').slice(0, 200);
}
