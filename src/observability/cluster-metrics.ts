/**
 * One /metrics for a pool of worker processes. Whichever worker receives the scrape asks the supervisor,
 * which collects every worker's metrics over the cluster's IPC channel with prom-client's
 * AggregatorRegistry and sums them (gauges that make no sense summed use prom-client's own aggregators,
 * e.g. the Node.js version is taken from the first worker). The answer therefore covers all workers,
 * whichever one a scrape lands on.
 *
 * Counters of a worker that died are gone from the sum: Prometheus sees that as a counter reset, which
 * rate() and increase() already handle.
 */
import cluster from 'node:cluster';
import type { Registry } from 'prom-client';

const REQUEST = 'pier:metrics-request';
const REPLY = 'pier:metrics-reply';

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsReply {
  type: typeof REPLY;
  id: number;
  text?: string;
  contentType?: string;
  error?: string;
}

/** Supervisor side: answer workers' requests with the aggregate of all workers. */
export function serveAggregatedMetrics(): void {
  let aggregator: Promise<{ clusterMetrics(): Promise<string>; contentType: string }> | undefined;
  cluster.on('message', (worker, message: MetricsRequest) => {
    if (message?.type !== REQUEST) return;
    // prom-client is loaded at the first scrape, not at start.
    aggregator ??= import('prom-client').then(({ AggregatorRegistry }) => new AggregatorRegistry());
    void aggregator
      .then(async (registry) => ({ text: await registry.clusterMetrics(), contentType: registry.contentType }))
      .then(
        ({ text, contentType }) => send(worker, { type: REPLY, id: message.id, text, contentType }),
        (error: unknown) => send(worker, { type: REPLY, id: message.id, error: (error as Error).message }),
      );
  });
}

function send(worker: { isConnected(): boolean; send(message: unknown): boolean }, reply: MetricsReply): void {
  if (worker.isConnected()) worker.send(reply);
}

/**
 * Worker side: make `registry` collectable by the supervisor, and return the function that renders the
 * pool's metrics for a scrape.
 */
export async function joinMetricsPool(registry: Registry): Promise<() => Promise<{ contentType: string; text: string }>> {
  const { AggregatorRegistry } = await import('prom-client');
  new AggregatorRegistry(); // installs the listener that answers the supervisor's collection requests
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const waiting = new Map<number, { resolve(r: { contentType: string; text: string }): void; reject(e: Error): void }>();
  process.on('message', (message: MetricsReply) => {
    if (message?.type !== REPLY) return;
    const pending = waiting.get(message.id);
    if (!pending) return;
    waiting.delete(message.id);
    if (message.text !== undefined) pending.resolve({ contentType: message.contentType ?? registry.contentType, text: message.text });
    else pending.reject(new Error(`metrics of the worker pool could not be collected: ${message.error ?? 'no answer'}`));
  });
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
      process.send!({ type: REQUEST, id } satisfies MetricsRequest);
    });
}
