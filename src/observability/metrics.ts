/**
 * Prometheus metrics (prom-client). Labels are bounded: routes are route ids from the route table, never
 * repository names; statuses and methods are small fixed sets; storage and index operations are method
 * names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'pier_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'pier_http_request_duration_seconds',
    help: 'HTTP request duration by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly bytesReceived = new Counter({
    name: 'pier_http_received_bytes_total',
    help: 'Bytes received on HTTP connections, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'pier_http_sent_bytes_total',
    help: 'Bytes sent on HTTP connections, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly uploadsInProgress = new Gauge({
    name: 'pier_uploads_in_progress',
    help: 'Blob upload requests currently streaming data',
    registers: [this.registry],
  });
  readonly storageDuration = new Histogram({
    name: 'pier_storage_operation_duration_seconds',
    help: 'Storage driver operation latency',
    labelNames: ['driver', 'operation'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly storageErrors = new Counter({
    name: 'pier_storage_operation_errors_total',
    help: 'Storage driver operations that failed',
    labelNames: ['driver', 'operation'] as const,
    registers: [this.registry],
  });
  readonly indexDuration = new Histogram({
    name: 'pier_index_query_duration_seconds',
    help: 'Metadata index operation latency',
    labelNames: ['operation'] as const,
    buckets: [0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  /** 1 per process once it serves; /metrics of a worker pool sums it to the number of workers answering. */
  readonly serving = new Gauge({
    name: 'pier_serving_processes',
    help: 'Processes serving requests (the number of workers answering in a worker pool)',
    registers: [this.registry],
  });
  /** 1 in the process that ran it once the start-up reconciliation with storage is done (index/storage-gate.ts). */
  readonly indexReconciled = new Gauge({
    name: 'pier_index_reconciled',
    help: 'Whether the start-up reconciliation of the index with storage is done (requests no longer wait for it)',
    registers: [this.registry],
  });
  readonly gcRuns = new Counter({
    name: 'pier_gc_runs_total',
    help: 'Garbage collection runs',
    registers: [this.registry],
  });
  readonly gcFreedBytes = new Counter({
    name: 'pier_gc_freed_bytes_total',
    help: 'Bytes freed by garbage collection',
    registers: [this.registry],
  });

  readonly loginsThrottled = new Counter({
    name: 'pier_login_throttled_total',
    help: 'Login attempts refused with 429 by the failed-login limits, by limit (account-address, address)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly storageFull = new Counter({
    name: 'pier_storage_full_total',
    help: 'Writes refused because the storage was full (507)',
    registers: [this.registry],
  });

  /** What a scrape of /metrics gets; a worker of a pool replaces it with the whole pool's aggregate. */
  exposition: () => Promise<{ contentType: string; text: string }> = async () => ({ contentType: this.registry.contentType, text: await this.registry.metrics() });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'pier_' });
  }
}

/**
 * Wraps every async method of `target` so its latency (and failures) are recorded. Used for the storage
 * driver and the metadata index, which both expose a flat set of async methods.
 */
export function instrument<T extends object>(
  target: T,
  observe: (operation: string, seconds: number, failed: boolean) => void,
): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return function (this: unknown, ...args: unknown[]) {
        const started = process.hrtime.bigint();
        const result = value.apply(object, args);
        if (!(result instanceof Promise)) return result;
        const done = (failed: boolean) => observe(property, Number(process.hrtime.bigint() - started) / 1e9, failed);
        return result.then(
          (v: unknown) => {
            done(false);
            return v;
          },
          (e: unknown) => {
            done(true);
            throw e;
          },
        );
      };
    },
  });
}
