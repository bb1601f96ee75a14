/**
 * Composition of events: the recording decorator around the index the registry writes through, sampled
 * pull events around its manifest and blob reads, the dispatcher, and the publisher other modules emit
 * through. start-server.ts adds the admin resources (webhooks, deliveries, callbacks).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../observability/logger.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import type { EventLog } from '../events/event-log.ts';
import type { EventSource } from '../events/event-model.ts';
import type { EventsSettings } from '../events/events-settings.ts';
import { EventRecordingIndex } from '../events/recording-index.ts';
import { PullEventRecorder } from '../events/pull-events.ts';
import type { BlobUseCases, ManifestUseCases } from '../registry/registry.ts';
import { createEventPublisher, type EventPublisher } from '../events/publish.ts';
import type { BuildEvent, BuildEvents } from '../builds/build-events.ts';
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
  /** Wraps the manifest and blob use cases so pulls emit sampled events (for openRegistry). */
  decorateUseCases(index: MetadataIndex): { manifests?(inner: ManifestUseCases): ManifestUseCases; blobs?(inner: BlobUseCases): BlobUseCases };
  /** Starts the dispatcher once the registry is open. */
  start(index: MetadataIndex, eventLog: EventLog): { dispatcher: Dispatcher; publisher: EventPublisher };
  stop(): Promise<void>;
}

export function wireEvents(settings: EventsSettings, logger: Logger, port: number, metrics?: Metrics): WiredEvents {
  const source: EventSource = { addr: `${hostname()}:${port}`, instanceID: randomUUID() };
  const policy = new OutboundPolicy({ allow: settings.webhooks.allow, deny: settings.webhooks.deny });
  let dispatcher: Dispatcher | undefined;
  let pulls: PullEventRecorder | undefined;
  return {
    source,
    policy,
    decorateIndex(index) {
      if (!settings.enabled) return index;
      return new EventRecordingIndex(index, { source, includeReferences: settings.includeReferences, onStored: () => dispatcher?.eventStored() });
    },
    decorateUseCases(index) {
      if (!settings.enabled || settings.pullSampleRate <= 0) return {};
      pulls = new PullEventRecorder(index, { sampleRate: settings.pullSampleRate, source, logger, onStored: () => dispatcher?.eventStored(), wanted: () => dispatcher?.receivesPulls() ?? true });
      return pulls.decorators();
    },
    start(index, eventLog) {
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
      await pulls?.flush();
      await dispatcher?.stop();
    },
  };
}

/** Builds announce their events (build.succeeded, build.failed, base.updated) through the outbox. */
export function buildEventsThrough(publisher: EventPublisher): BuildEvents {
  return {
    async emit(event: BuildEvent) {
      const { type, repository, ...data } = event;
      await publisher.publish(type, { repository, data });
    },
  };
}
