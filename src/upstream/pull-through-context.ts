/** What the proxying decorators share: the router, storage, the in-memory caches, metrics and the logger. */
import type { Logger } from '../observability/logger.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import { RegistryError } from '../registry/errors.ts';
import type { CacheMetrics } from './cache-metrics.ts';
import { UpstreamFailure } from './client/upstream-failure.ts';
import type { ExpiringSet } from './expiring-set.ts';
import type { UpstreamRoute, UpstreamRouter } from './upstream-router.ts';
import type { PullRecords } from './pull-records.ts';

export interface PullThroughContext {
  router: UpstreamRouter;
  storage: RegistryStorage;
  logger: Logger;
  metrics: CacheMetrics;
  /** Upstream 404s, by upstreamKey(). */
  notFound: ExpiringSet;
  notFoundTtlMs: number;
  /** Tags revalidated within their TTL, by upstreamKey(). */
  freshTags: ExpiringSet;
  /** Where blob downloads are spooled for the readers that follow them. */
  spoolDir: string;
  /** Cached manifests and when they were last pulled (for eviction). */
  records: PullRecords;
}

export function upstreamKey(route: UpstreamRoute, what: string): string {
  return `${route.settings.name}\n${route.remoteName}\n${what}`;
}

/** An upstream failure as the error a client gets when nothing cached can stand in. */
export function upstreamError(error: unknown): unknown {
  if (!UpstreamFailure.is(error)) return error;
  if (error.kind === 'rate-limited') {
    return new RegistryError('TOOMANYREQUESTS', error.message, { upstream: error.upstream }, error.retryAfterSeconds !== undefined ? { retryAfter: error.retryAfterSeconds } : {});
  }
  return new RegistryError('UNAVAILABLE', error.message, { upstream: error.upstream, reason: error.kind });
}

export function deniedError(route: UpstreamRoute, repository: string): RegistryError {
  return new RegistryError('DENIED', `repository ${repository} is not allowed through upstream ${route.settings.name}`, { name: repository });
}

export function pushRefused(route: UpstreamRoute, repository: string): RegistryError {
  return new RegistryError('UNSUPPORTED', `repository ${repository} is a pull-through cache of upstream ${route.settings.name}: pushes and deletes are not supported`, { name: repository });
}
