/**
 * Prometheus metrics of builds, registered on the server's registry: finished builds by outcome, their
 * durations, and (read from the store at scrape time) builds queued and running. Counting happens in a
 * BuildEvents decorator, so the queue knows nothing about metrics.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BuildEvent, BuildEvents } from './build-events.ts';
import type { BuildStore } from './queue/build-store.ts';

export function withBuildMetrics(events: BuildEvents, registry: Registry, store: BuildStore): BuildEvents {
  const finished = new Counter({ name: 'pier_builds_finished_total', help: 'Builds finished, by outcome', labelNames: ['outcome'], registers: [registry] });
  const duration = new Histogram({ name: 'pier_build_duration_seconds', help: 'Duration of finished builds', buckets: [1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600], registers: [registry] });
  const baseUpdates = new Counter({ name: 'pier_build_base_updates_total', help: 'base.updated events for images pushed from elsewhere', registers: [registry] });
  new Gauge({
    name: 'pier_builds',
    help: 'Builds queued or running now',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      for (const status of ['queued', 'running'] as const) this.set({ status }, (await store.listBuilds({ status, limit: 10_000 })).length);
    },
  });
  return {
    async emit(event: BuildEvent) {
      if (event.type === 'base.updated') baseUpdates.inc();
      else {
        finished.inc({ outcome: event.type === 'build.succeeded' ? 'succeeded' : 'failed' });
        duration.observe(event.durationMs / 1000);
      }
      await events.emit(event);
    },
  };
}
