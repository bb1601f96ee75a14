/**
 * One /metrics for a pool of worker processes. Whichever worker receives the scrape asks the supervisor,
 * which collects the metrics of every worker that has joined (over the cluster's IPC channel) and merges
 * them with prom-client's aggregation: counters and histograms are summed, and the metrics that make no
 * sense summed use prom-client's own rules (e.g. the Node.js version is taken from the first worker). The
 * answer covers all workers, whichever one a scrape lands on.
 *
 * Only workers that said they joined are asked (a worker that is still starting would not answer), and
 * one that does not answer within a few seconds (it is dying) is left out of that scrape rather than
 * failing it. Counters of a worker that died are gone from the sum: Prometheus sees that as a counter
 * reset, which rate() and increase() already handle.
 */
import cluster, { type Worker } from 'node:cluster';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

const JOINED = 'pier:metrics-joined';
const SCRAPE = 'pier:metrics-scrape';
const COLLECT = 'pier:metrics-collect';
const PART = 'pier:metrics-part';
const RESULT = 'pier:metrics-result';
const WORKER_TIMEOUT_MS = 3_000;

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

type Message =
  | { type: typeof JOINED }
  | { type: typeof SCRAPE; id: number }
  | { type: typeof COLLECT; id: number }
  | { type: typeof PART; id: number; metrics: MetricsJson }
  | { type: typeof RESULT; id: number; text?: string; contentType?: string; error?: string };

/** Supervisor side: answer a worker's scrape with the aggregate of every joined worker. */
export function serveAggregatedMetrics(): void {
  const joined = new Set<Worker>();
  const pending = new Map<number, (worker: Worker, metrics: MetricsJson) => void>();
  let nextCollection = 0;

  const collect = (): Promise<MetricsJson[]> => {
    const id = nextCollection++;
    const workers = [...joined].filter((w) => w.isConnected());
    const parts: MetricsJson[] = [];
    return new Promise((resolve) => {
      const waiting = new Set(workers);
      const finish = () => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(parts);
      };
      const timer = setTimeout(finish, WORKER_TIMEOUT_MS);
      pending.set(id, (worker, metrics) => {
        if (!waiting.delete(worker)) return;
        parts.push(metrics);
        if (waiting.size === 0) finish();
      });
      if (workers.length === 0) finish();
      for (const worker of workers) worker.send({ type: COLLECT, id } satisfies Message);
    });
  };

  cluster.on('exit', (worker) => joined.delete(worker));
  cluster.on('message', (worker: Worker, message: Message) => {
    switch (message?.type) {
      case JOINED:
        joined.add(worker);
        return;
      case PART:
        pending.get(message.id)?.(worker, message.metrics);
        return;
      case SCRAPE:
        // prom-client is loaded at the first scrape, not at start.
        void Promise.all([import('prom-client'), collect()])
          .then(([{ AggregatorRegistry }, parts]) => {
            const registry = AggregatorRegistry.aggregate(parts);
            return Promise.resolve(registry.metrics()).then((text) => ({ text, contentType: registry.contentType as string }));
          })
          .then(
            ({ text, contentType }) => reply(worker, { type: RESULT, id: message.id, text, contentType }),
            (error: unknown) => reply(worker, { type: RESULT, id: message.id, error: (error as Error).message }),
          );
        return;
      default:
    }
  });
}

function reply(worker: Worker, message: Message): void {
  if (worker.isConnected()) worker.send(message);
}

/**
 * Worker side: offer `registry` to the supervisor's collections, and return the function that renders the
 * pool's metrics for a scrape.
 */
export function joinMetricsPool(registry: Registry): () => Promise<{ contentType: string; text: string }> {
  let next = 0;
  const waiting = new Map<number, { resolve(r: { contentType: string; text: string }): void; reject(e: Error): void }>();
  process.on('message', (message: Message) => {
    if (message?.type === COLLECT) {
      void registry.getMetricsAsJSON().then((metrics) => process.send?.({ type: PART, id: message.id, metrics } satisfies Message));
      return;
    }
    if (message?.type !== RESULT) return;
    const request = waiting.get(message.id);
    if (!request) return;
    waiting.delete(message.id);
    if (message.text !== undefined) request.resolve({ contentType: message.contentType ?? registry.contentType, text: message.text });
    else request.reject(new Error(`metrics of the worker pool could not be collected: ${message.error ?? 'no answer'}`));
  });
  process.send?.({ type: JOINED } satisfies Message);
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('metrics of the worker pool could not be collected: the supervisor did not answer'));
      }, 10_000);
      waiting.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      process.send!({ type: SCRAPE, id } satisfies Message);
    });
}
