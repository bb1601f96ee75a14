/** The `notifications` section of config.yml as the settings of events and their delivery. */
import type { PierConfig } from '../config/schema.ts';
import type { ConfigEndpoint } from './delivery/endpoints.ts';

export interface EventsSettings {
  /** notifications.events.enabled (Pier-only): record events in the outbox at all. */
  enabled: boolean;
  includeReferences: boolean;
  /** Share of pulls that emit an event (0 when pull events are off). */
  pullSampleRate: number;
  /** The enabled endpoints of config.yml. */
  endpoints: ConfigEndpoint[];
  callbackBaseUrl?: string;
  /** How long finished deliveries stay in the log. */
  retentionMs: number;
  webhooks: { allow: string[]; deny: string[]; timeoutMs: number; maxAttempts: number };
}

export function eventsSettings(notifications: PierConfig['notifications']): EventsSettings {
  const { events, webhooks } = notifications;
  return {
    enabled: events.enabled,
    includeReferences: events.includereferences,
    pullSampleRate: events.pulls.enabled ? events.pulls.samplerate : 0,
    endpoints: notifications.endpoints.filter((e) => !e.disabled),
    ...(notifications.callbackbaseurl !== undefined ? { callbackBaseUrl: notifications.callbackbaseurl } : {}),
    retentionMs: notifications.deliverylog.maxage,
    webhooks: { allow: webhooks.allow, deny: webhooks.deny, timeoutMs: webhooks.timeout, maxAttempts: webhooks.maxattempts },
  };
}
