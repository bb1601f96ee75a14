/**
 * How other modules emit their own events (builds: `build.succeeded`, `build.failed`, `base.updated`):
 *
 *   await events.publish('build.succeeded', { repository: 'team/app', data: { buildId, digest, tag } });
 *
 * The event goes to the outbox at once (durably, in its own index transaction) and is delivered like any
 * other to the webhooks and endpoints that take it: CloudEvents endpoints as `dev.pier.build.succeeded`,
 * webhooks whose event types list it. The reference envelope and the Docker Hub payload carry registry
 * events only, so those endpoints never see custom events. A type is lower-case words joined by dots.
 */
import type { MetadataIndex } from '../registry/ports.ts';
import { customEvent, type EventSource } from './event-model.ts';

export const CUSTOM_EVENT_TYPE = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export interface EventPublisher {
  /** Stores the event in the outbox; resolves to its id once it is stored. */
  publish(type: string, fields?: { repository?: string; actor?: string; data?: Record<string, unknown> }): Promise<string>;
}

export function createEventPublisher(index: MetadataIndex, source: EventSource): EventPublisher {
  return {
    async publish(type, fields = {}) {
      if (!CUSTOM_EVENT_TYPE.test(type)) throw new Error(`invalid event type ${JSON.stringify(type)}: lower-case words joined by dots, such as build.succeeded`);
      const event = customEvent(type, fields, source, new Date());
      await index.appendEvents([event]);
      return event.id;
    },
  };
}
