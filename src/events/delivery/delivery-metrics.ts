/**
 * Prometheus metrics of event delivery, registered in Pier's metrics registry: attempts by result, and the
 * time from an event to its delivery. Labels are bounded (a result is one of three words; no endpoint or
 * repository names).
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { AttemptResult } from './dispatcher.ts';

export function deliveryMetrics(registry: Registry): (result: AttemptResult, sinceEventMs: number) => void {
  const attempts = new Counter({
    name: 'pier_event_delivery_attempts_total',
    help: 'Event delivery attempts by result (delivered, retry, dead)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'pier_event_delivery_latency_seconds',
    help: 'Time from an event to its successful delivery',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [registry],
  });
  return (result, sinceEventMs) => {
    attempts.inc({ result });
    if (result === 'delivered') latency.observe(sinceEventMs / 1000);
  };
}
