/**
 * Metrics of the pull-through cache, registered on Pier's one Prometheus registry. Labels are bounded:
 * upstream names come from the configuration, kinds and methods are small fixed sets.
 */
import { Counter, type Registry } from 'prom-client';
import type { UpstreamObserver } from './client/oci-client.ts';

export class CacheMetrics implements UpstreamObserver {
  readonly hits: Counter<'upstream' | 'kind'>;
  readonly misses: Counter<'upstream' | 'kind'>;
  readonly upstreamRequests: Counter<'upstream' | 'kind' | 'method'>;
  readonly upstreamBytes: Counter<'upstream'>;
  readonly upstreamErrors: Counter<'upstream' | 'reason'>;
  readonly sharedWaiters: Counter<'upstream'>;
  readonly staleServed: Counter<'upstream'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.hits = new Counter({ name: 'pier_proxy_cache_hits_total', help: 'Pull-through requests served from the cache', labelNames: ['upstream', 'kind'], registers });
    this.misses = new Counter({ name: 'pier_proxy_cache_misses_total', help: 'Pull-through requests that needed the upstream', labelNames: ['upstream', 'kind'], registers });
    this.upstreamRequests = new Counter({ name: 'pier_proxy_upstream_requests_total', help: 'Requests sent to upstream registries and their token services', labelNames: ['upstream', 'kind', 'method'], registers });
    this.upstreamBytes = new Counter({ name: 'pier_proxy_upstream_bytes_total', help: 'Blob bytes received from upstream registries', labelNames: ['upstream'], registers });
    this.upstreamErrors = new Counter({ name: 'pier_proxy_upstream_errors_total', help: 'Upstream failures by reason (unreachable, timeout, rate-limited, status, invalid, digest)', labelNames: ['upstream', 'reason'], registers });
    this.sharedWaiters = new Counter({ name: 'pier_proxy_shared_fetch_waiters_total', help: 'Requests that joined an upstream fetch already under way instead of starting one', labelNames: ['upstream'], registers });
    this.staleServed = new Counter({ name: 'pier_proxy_stale_served_total', help: 'Cached tags served without revalidation because the upstream failed', labelNames: ['upstream'], registers });
  }

  request(upstream: string, kind: 'manifest' | 'blob' | 'token', method: string): void {
    this.upstreamRequests.inc({ upstream, kind, method });
  }
}
