/**
 * Repository webhooks as a use case, shared by the admin API (http/admin/webhooks.ts) and the CLI
 * (`pier webhook`): checking and creating one (its URL against the outbound policy, including what its
 * name resolves to), and sending a test event.
 */
import { randomUUID } from 'node:crypto';
import type { MetadataIndex } from '../registry/ports.ts';
import type { EventLog, WebhookFormat, WebhookRecord } from './event-log.ts';
import { REGISTRY_EVENT_TYPES, registryEvent, type EventSource } from './event-model.ts';
import { CUSTOM_EVENT_TYPE } from './publish.ts';
import { OutboundDenied, type OutboundPolicy } from './delivery/outbound-policy.ts';
import { newSecret } from './delivery/signing.ts';

export const WEBHOOK_FORMATS: WebhookFormat[] = ['hub', 'reference', 'cloudevents'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const PATTERN = /^[a-z0-9*][a-z0-9._/*-]{0,254}$/;

export class WebhookInputError extends Error {
  constructor(
    message: string,
    readonly kind: 'invalid' | 'conflict' = 'invalid',
  ) {
    super(message);
  }
}

export interface WebhookInput {
  name: unknown;
  url: unknown;
  repositories: unknown;
  format?: unknown;
  events?: unknown;
  after?: unknown;
}

/** Validates the input, checks the URL, stores the webhook; the record returned holds the new secret. */
export async function createWebhook(eventLog: EventLog, policy: OutboundPolicy, input: WebhookInput, createdBy?: string): Promise<WebhookRecord> {
  const { name, url, repositories, format, events, after } = input;
  if (typeof name !== 'string' || !NAME.test(name)) throw new WebhookInputError('name: required, letters, digits, ".", "_" or "-" (at most 100)');
  if (typeof repositories !== 'string' || !PATTERN.test(repositories)) throw new WebhookInputError('repositories: required, a repository name or pattern (team/app, team/*, team/**, **)');
  if (format !== undefined && !WEBHOOK_FORMATS.includes(format as WebhookFormat)) throw new WebhookInputError(`format: one of ${WEBHOOK_FORMATS.join(', ')}`);
  const eventTypes = events ?? [];
  const validType = (t: unknown): boolean => typeof t === 'string' && (t === '*' || (REGISTRY_EVENT_TYPES as readonly string[]).includes(t) || CUSTOM_EVENT_TYPE.test(t));
  if (!Array.isArray(eventTypes) || !eventTypes.every(validType)) {
    throw new WebhookInputError(`events: a list of event types (${REGISTRY_EVENT_TYPES.join(', ')}, another module's such as build.succeeded, or *)`);
  }
  if (after !== undefined && (typeof after !== 'string' || !/^[0-9a-f-]{36}$/.test(after) || !(await eventLog.getWebhook(after)))) {
    throw new WebhookInputError('after: the id of an existing webhook');
  }
  if (typeof url !== 'string' || url.length > 2048 || !URL.canParse(url)) throw new WebhookInputError('url: required, an http or https URL');
  try {
    await policy.checkResolved(new URL(url));
  } catch (error) {
    if (error instanceof OutboundDenied) throw new WebhookInputError(`url: ${error.message}`);
    throw error;
  }
  const webhook: WebhookRecord = {
    id: randomUUID(),
    name,
    url,
    format: (format as WebhookFormat | undefined) ?? 'hub',
    repositories,
    eventTypes: eventTypes as string[],
    secret: newSecret(),
    ...(after !== undefined ? { after: after as string } : {}),
    createdAt: new Date(),
    ...(createdBy !== undefined ? { createdBy } : {}),
  };
  if (!(await eventLog.createWebhook(webhook))) throw new WebhookInputError(`a webhook named ${JSON.stringify(name)} exists`, 'conflict');
  return webhook;
}

/** Stores a test event for the webhook: an image push of tag `pier-test` into a repository it matches. */
export async function sendTestEvent(index: MetadataIndex, webhook: WebhookRecord, source: EventSource, actor: string | undefined): Promise<string> {
  const repository = webhook.repositories.replace(/\*\*/g, 'test').replace(/\*/g, 'test');
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 0, digest: `sha256:${'0'.repeat(64)}`, repository, tag: 'pier-test' };
  const event = registryEvent('push', target, undefined, source, new Date());
  (event.payload as { actor: { name?: string } }).actor = actor !== undefined ? { name: actor } : {};
  await index.appendEvents([event]);
  return event.id;
}

/** A webhook for display: never its secret. */
export function webhookJson(w: WebhookRecord): Record<string, unknown> {
  const { secret: _secret, createdAt, ...rest } = w;
  return { ...rest, createdAt: createdAt.toISOString() };
}
