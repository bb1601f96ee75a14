/**
 * Composition of events: the recording decorator around the index the registry writes through, sampled
 * pull events around its reads, the dispatcher, the publisher other modules emit through, and the admin
 * resources (webhooks, deliveries, callbacks).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../observability/logger.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import type { Registry } from '../registry/registry.ts';
import type { EventLog } from '../events/event-log.ts';
import type { EventSource } from '../events/event-model.ts';
import type { EventsSettings } from '../events/events-settings.ts';
import { EventRecordingIndex } from '../events/recording-index.ts';
import { emitPullEvents, type PullEvents } from '../events/pull-events.ts';
import { createEventPublisher, type EventPublisher } from '../events/publish.ts';
import { configEndpoint, ENDPOINT_DEFAULTS } from '../events/delivery/endpoints.ts';
import { Dispatcher } from '../events/delivery/dispatcher.ts';
import { OutboundPolicy } from '../events/delivery/outbound-policy.ts';
import { deliveryMetrics } from '../events/delivery/delivery-metrics.ts';
import type { Metrics } from '../observability/metrics.ts';

export interface WiredEvents {
  source: EventSource;
  policy: OutboundPolicy;
  /** Wraps the index the registry writes through (for openRegistry). */
  decorateIndex(index: MetadataIndex): MetadataIndex;
  /** Starts pull events and the dispatcher once the registry is open. */
  start(registry: Registry, index: MetadataIndex, eventLog: EventLog): { dispatcher: Dispatcher; publisher: EventPublisher };
  stop(): Promise<void>;
}

export function wireEvents(settings: EventsSettings, logger: Logger, port: number, metrics?: Metrics): WiredEvents {
  const source: EventSource = { addr: `${hostname()}:${port}`, instanceID: randomUUID() };
  const policy = new OutboundPolicy({ allow: settings.webhooks.allow, deny: settings.webhooks.deny });
  let dispatcher: Dispatcher | undefined;
  let pulls: PullEvents | undefined;
  return {
    source,
    policy,
    decorateIndex(index) {
      if (!settings.enabled) return index;
      return new EventRecordingIndex(index, { source, includeReferences: settings.includeReferences, onStored: () => dispatcher?.wake() });
    },
    start(registry, index, eventLog) {
      if (settings.enabled && settings.pullSampleRate > 0) pulls = emitPullEvents(registry, index, { sampleRate: settings.pullSampleRate, source, logger, onStored: () => dispatcher?.wake() });
      const defaults = { ...ENDPOINT_DEFAULTS, timeoutMs: settings.webhooks.timeoutMs, maxAttempts: settings.webhooks.maxAttempts };
      dispatcher = new Dispatcher({
        eventLog,
        configEndpoints: settings.endpoints.map((e) => configEndpoint(e)),
        policy,
        logger,
        retentionMs: settings.retentionMs,
        webhookDefaults: defaults,
        ...(metrics ? { observe: deliveryMetrics(metrics.registry) } : {}),
        ...(settings.callbackBaseUrl ? { callbackBaseUrl: settings.callbackBaseUrl } : {}),
      });
      dispatcher.start();
      if (settings.endpoints.length > 0) logger.info({ endpoints: settings.endpoints.map((e) => `${e.name} (${e.format ?? 'reference'})`) }, 'event endpoints configured');
      const inner = createEventPublisher(index, source);
      const publisher: EventPublisher = {
        async publish(type, fields) {
          const id = await inner.publish(type, fields);
          dispatcher?.wake();
          return id;
        },
      };
      return { dispatcher, publisher };
    },
    async stop() {
      await pulls?.stop();
      await dispatcher?.stop();
    },
  };
}
