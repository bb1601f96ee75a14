/**
 * Builds the pull-through cache from its settings: one client per upstream, the router, and the decorators
 * that main/ wraps around the registry's blob, manifest and upload use cases.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { Registry as PromRegistry } from 'prom-client';
import type { Logger } from '../observability/logger.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import type { UseCaseDecorators } from '../registry/registry.ts';
import { CacheMetrics } from './cache-metrics.ts';
import { UpstreamClient } from './client/oci-client.ts';
import { ExpiringSet } from './expiring-set.ts';
import { ProxiedBlobs } from './proxied-blobs.ts';
import { ProxiedManifests } from './proxied-manifests.ts';
import { ProxiedUploads } from './proxied-uploads.ts';
import type { PullThroughContext } from './pull-through-context.ts';
import { UpstreamRouter } from './upstream-router.ts';
import type { PullThroughSettings } from './upstream-settings.ts';

export interface PullThrough {
  decorators: UseCaseDecorators;
  close(): Promise<void>;
}

export function createPullThrough(settings: PullThroughSettings, deps: { storage: RegistryStorage; logger: Logger; metrics: PromRegistry; dataDir: string }): PullThrough {
  const metrics = new CacheMetrics(deps.metrics);
  const clients = settings.upstreams.map((u) => new UpstreamClient(u, deps.logger, metrics));
  const spoolDir = join(deps.dataDir, 'pier', 'pull-through-spool');
  rmSync(spoolDir, { recursive: true, force: true }); // downloads a previous process left unfinished
  const pt: PullThroughContext = {
    router: new UpstreamRouter(clients),
    storage: deps.storage,
    logger: deps.logger,
    metrics,
    notFound: new ExpiringSet(),
    notFoundTtlMs: settings.notFoundTtlMs,
    freshTags: new ExpiringSet(),
    spoolDir,
  };
  for (const u of settings.upstreams) {
    deps.logger.info({ upstream: u.name, prefix: u.prefix || '(default)', url: u.url.origin, mode: u.mode, auth: u.username !== undefined ? 'credentials' : 'anonymous' }, 'pull-through upstream configured');
  }
  return {
    decorators: {
      blobs: (inner) => new ProxiedBlobs(inner, pt),
      manifests: (inner) => new ProxiedManifests(inner, pt),
      uploads: (inner) => new ProxiedUploads(inner, pt),
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    },
  };
}
