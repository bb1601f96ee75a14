/**
 * Endpoints: where events go. Two kinds share one shape: the `notifications.endpoints` of config.yml
 * (key `config:<name>`, the operator's, used as written) and repository webhooks created through the admin
 * API or CLI (key `webhook:<id>`, checked by the outbound policy). `accepts` decides which events an
 * endpoint gets at fan-out.
 */
import type { StoredEvent, WebhookFormat, WebhookRecord } from '../event-log.ts';
import { isRegistryEvent } from '../event-model.ts';

export interface Endpoint {
  key: string;
  name: string;
  url: string;
  format: WebhookFormat;
  /** Reference envelope media type: 2.8's (v1, default) or 3.x's (v2). */
  envelope: 'v1' | 'v2';
  headers: Record<string, string[]>;
  timeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
  secret?: string;
  /** API webhooks: sent through the outbound policy. */
  guarded: boolean;
  /** Chains: the key of the endpoint whose success callback releases this one's deliveries. */
  after?: string;
  accepts(event: StoredEvent): boolean;
  /** Whether some pull event could be accepted (pull events are not recorded while none is: pull-events.ts). */
  takesPulls: boolean;
}

export interface ConfigEndpoint {
  name: string;
  url: string;
  disabled: boolean;
  headers: Record<string, string[]>;
  timeout?: number | undefined;
  backoff?: number | undefined;
  ignoredmediatypes?: string[] | undefined;
  ignore: { mediatypes?: string[] | undefined; actions?: string[] | undefined };
  format?: WebhookFormat | undefined;
  envelope?: 'v1' | 'v2' | undefined;
  secret?: string | undefined;
  maxattempts?: number | undefined;
  maxbackoff?: number | undefined;
}

export interface EndpointDefaults {
  timeoutMs: number;
  backoffMs: number;
  maxBackoffMs: number;
  maxAttempts: number;
}

export const ENDPOINT_DEFAULTS: EndpointDefaults = { timeoutMs: 5_000, backoffMs: 1_000, maxBackoffMs: 3_600_000, maxAttempts: 20 };

/** A config.yml endpoint: every registry event (pulls too, as the reference sends them) minus what it ignores. */
export function configEndpoint(e: ConfigEndpoint, defaults: EndpointDefaults = ENDPOINT_DEFAULTS): Endpoint {
  const ignoredTypes = new Set([...(e.ignoredmediatypes ?? []), ...(e.ignore.mediatypes ?? [])]);
  const ignoredActions = new Set(e.ignore.actions ?? []);
  const format = e.format ?? 'reference';
  return {
    key: `config:${e.name}`,
    name: e.name,
    url: e.url,
    format,
    envelope: e.envelope ?? 'v1',
    headers: e.headers,
    timeoutMs: e.timeout || defaults.timeoutMs,
    backoffMs: e.backoff || defaults.backoffMs,
    maxBackoffMs: e.maxbackoff || defaults.maxBackoffMs,
    maxAttempts: e.maxattempts || defaults.maxAttempts,
    ...(e.secret ? { secret: e.secret } : {}),
    guarded: false,
    takesPulls: format !== 'hub' && !ignoredActions.has('pull'),
    accepts(event) {
      const payload = event.payload;
      if (!isRegistryEvent(payload)) return format === 'cloudevents'; // other modules' events: CloudEvents only
      if (format === 'hub' && event.type !== 'image.pushed') return false;
      if (ignoredActions.has(payload.action)) return false;
      return payload.target.mediaType === undefined || !ignoredTypes.has(payload.target.mediaType);
    },
  };
}

/** Default event types of a webhook created without a list: what Docker Hub's webhooks send. */
export const DEFAULT_WEBHOOK_EVENTS = ['image.pushed'];

export function webhookEndpoint(w: WebhookRecord, defaults: EndpointDefaults = ENDPOINT_DEFAULTS): Endpoint {
  const repositories = repositoryPattern(w.repositories);
  const types = new Set(w.eventTypes.length > 0 ? w.eventTypes : DEFAULT_WEBHOOK_EVENTS);
  return {
    key: `webhook:${w.id}`,
    name: w.name,
    url: w.url,
    format: w.format,
    envelope: 'v1',
    headers: {},
    timeoutMs: defaults.timeoutMs,
    backoffMs: defaults.backoffMs,
    maxBackoffMs: defaults.maxBackoffMs,
    maxAttempts: defaults.maxAttempts,
    secret: w.secret,
    guarded: true,
    ...(w.after ? { after: `webhook:${w.after}` } : {}),
    takesPulls: w.format !== 'hub' && ['image.pulled', 'blob.pulled', '*'].some((type) => types.has(type)),
    accepts(event) {
      if (!types.has(event.type) && !types.has('*')) return false;
      if (w.format === 'hub' && event.type !== 'image.pushed') return false;
      if (w.format === 'reference' && !isRegistryEvent(event.payload)) return false;
      return event.repository !== undefined && repositories.test(event.repository);
    },
  };
}

/** `team/*` (one path component), `team/**` (anything below), or an exact name. */
export function repositoryPattern(pattern: string): RegExp {
  const parts = pattern.split(/(\*\*|\*)/).map((p) => (p === '**' ? '.*' : p === '*' ? '[^/]*' : p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('')}$`);
}
