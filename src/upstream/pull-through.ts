/**
 * Builds the pull-through cache from its settings: one client per upstream, the router, and the decorators
 * that main/ wraps around the registry's blob, manifest and upload use cases.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Registry as PromRegistry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import type { UseCaseDecorators } from '../registry/registry.ts';
import { CacheMetrics } from './cache-metrics.ts';
import { UpstreamClient } from './client/oci-client.ts';
import { ExpiringSet } from './expiring-set.ts';
import { ProxiedBlobs } from './proxied-blobs.ts';
import { ProxiedManifests } from './proxied-manifests.ts';
import { ProxiedUploads } from './proxied-uploads.ts';
import { ProxiedListings } from './proxied-listings.ts';
import type { PullThroughContext } from './pull-through-context.ts';
import { UpstreamRouter } from './upstream-router.ts';
import type { PullThroughSettings } from './upstream-settings.ts';
import { PullRecords } from './pull-records.ts';
import { evictCache } from './cache-eviction.ts';

export interface PullThrough {
  decorators: UseCaseDecorators;
  close(): Promise<void>;
}

export function createPullThrough(
  settings: PullThroughSettings,
  deps: { storage: RegistryStorage; index: MetadataIndex; indexFile: string; logger: Logger; metrics: PromRegistry; dataDir: string },
): PullThrough {
  const metrics = new CacheMetrics(deps.metrics);
  const clients = settings.upstreams.map((u) => new UpstreamClient(u, deps.logger, metrics));
  const spoolDir = join(deps.dataDir, 'pier', 'pull-through-spool', randomUUID());
  clearOldSpools(dirname(spoolDir));
  const records = new PullRecords(deps.indexFile);
  const pt: PullThroughContext = {
    router: new UpstreamRouter(clients),
    storage: deps.storage,
    logger: deps.logger,
    metrics,
    notFound: new ExpiringSet(),
    notFoundTtlMs: settings.notFoundTtlMs,
    freshTags: new ExpiringSet(),
    spoolDir,
    records,
  };
  const { eviction } = settings;
  let evicting: Promise<unknown> = Promise.resolve();
  const evictionTimer = eviction
    ? setInterval(() => {
        evicting = evicting
          .then(() => evictCache(records, deps.storage, deps.index, eviction, deps.logger))
          .catch((err: unknown) => deps.logger.error({ err: (err as Error).message }, 'pull-through cache eviction failed'));
      }, eviction.intervalMs).unref()
    : undefined;
  for (const u of settings.upstreams) {
    deps.logger.info({ upstream: u.name, prefix: u.prefix || '(default)', url: u.url.origin, mode: u.mode, auth: u.username !== undefined ? 'credentials' : 'anonymous' }, 'pull-through upstream configured');
  }
  return {
    decorators: {
      blobs: (inner) => new ProxiedBlobs(inner, pt),
      manifests: (inner) => new ProxiedManifests(inner, pt),
      uploads: (inner) => new ProxiedUploads(inner, pt),
      listings: (inner) => new ProxiedListings(inner, pt),
    },
    close: async () => {
      clearInterval(evictionTimer);
      await evicting;
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      records.close();
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}

/**
 * Each process spools into a folder of its own (several processes may share a data directory); folders
 * untouched for a day are left over from processes that ended without cleaning up.
 */
function clearOldSpools(parent: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  const cutoff = Date.now() - 24 * 3_600_000;
  for (const entry of entries) {
    try {
      if (statSync(join(parent, entry)).mtimeMs < cutoff) rmSync(join(parent, entry), { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}
