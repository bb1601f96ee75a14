/**
 * Admin API: repository webhooks (Pier-only), admins only.
 *
 * | method | path | what |
 * |---|---|---|
 * | GET | `webhooks` | list (secrets never shown) |
 * | POST | `webhooks` | create: `{name, url, repositories, format?, events?, after?}` → 201 with the secret, once |
 * | GET, DELETE | `webhooks/{id}` | show, delete (204) |
 * | POST | `webhooks/{id}/test` | send a test event (an `image.pushed` of `repositories`' first match) → 202 with the delivery id |
 *
 * The URL is checked against the outbound policy (notifications.webhooks.allow/deny) when created: a literal
 * address and every address its name resolves to; deliveries check again at connect time and on redirects.
 */
import { randomUUID } from 'node:crypto';
import type { EventLog, WebhookFormat, WebhookRecord } from '../../events/event-log.ts';
import { REGISTRY_EVENT_TYPES, registryEvent, type EventSource } from '../../events/event-model.ts';
import { CUSTOM_EVENT_TYPE } from '../../events/publish.ts';
import { OutboundDenied, type OutboundPolicy } from '../../events/delivery/outbound-policy.ts';
import { newSecret } from '../../events/delivery/signing.ts';
import type { MetadataIndex } from '../../registry/ports.ts';
import { AdminError, json, readJson } from './admin-api.ts';
import type { AdminResource, AdminRouteMatch } from './admin-resource.ts';

export interface WebhooksResourceOptions {
  eventLog: EventLog;
  index: MetadataIndex;
  policy: OutboundPolicy;
  source: EventSource;
  /** Called after a change, so the dispatcher sees it at once. */
  changed(): void;
}

const FORMATS: WebhookFormat[] = ['hub', 'reference', 'cloudevents'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const PATTERN = /^[a-z0-9*][a-z0-9._/*-]{0,254}$/;

export function webhookJson(w: WebhookRecord): Record<string, unknown> {
  const { secret: _secret, createdAt, ...rest } = w;
  return { ...rest, createdAt: createdAt.toISOString() };
}

export function webhooksResource(options: WebhooksResourceOptions): AdminResource {
  const { eventLog, policy } = options;
  const find = async (id: string): Promise<WebhookRecord> => {
    const webhook = /^[0-9a-f-]{36}$/.test(id) ? await eventLog.getWebhook(id) : undefined;
    if (!webhook) throw new AdminError(404, 'NOT_FOUND', 'no such webhook');
    return webhook;
  };
  return {
    match(rest): AdminRouteMatch | undefined {
      if (rest === 'webhooks') return { id: 'admin-webhooks', methods: ['GET', 'HEAD', 'POST'], params: {} };
      const m = /^webhooks\/([^/]+)(\/test)?$/.exec(rest);
      if (!m) return undefined;
      return m[2] ? { id: 'admin-webhook-test', methods: ['POST'], params: { id: m[1]! } } : { id: 'admin-webhook', methods: ['GET', 'HEAD', 'DELETE'], params: { id: m[1]! } };
    },
    async handle({ req, res, method, params, caller }) {
      if (params.id === undefined) {
        if (method !== 'POST') return json(res, 200, { webhooks: (await eventLog.listWebhooks()).map(webhookJson) });
        const body = await readJson(req);
        const { name, url, repositories, format, events, after, ...unknown } = body;
        if (Object.keys(unknown).length > 0) throw invalid(`unknown field ${JSON.stringify(Object.keys(unknown)[0]!.slice(0, 50))} (expected name, url, repositories, format, events, after)`);
        if (typeof name !== 'string' || !NAME.test(name)) throw invalid('name: required, letters, digits, ".", "_" or "-" (at most 100)');
        if (typeof repositories !== 'string' || !PATTERN.test(repositories)) throw invalid('repositories: required, a repository name or pattern (team/app, team/*, team/**, **)');
        if (format !== undefined && !FORMATS.includes(format as WebhookFormat)) throw invalid(`format: one of ${FORMATS.join(', ')}`);
        const eventTypes = events === undefined ? [] : events;
        if (!Array.isArray(eventTypes) || !eventTypes.every((t) => typeof t === 'string' && (t === '*' || (REGISTRY_EVENT_TYPES as readonly string[]).includes(t) || CUSTOM_EVENT_TYPE.test(t)))) {
          throw invalid(`events: a list of event types (${REGISTRY_EVENT_TYPES.join(', ')}, a module's type such as build.succeeded, or *)`);
        }
        if (after !== undefined && (typeof after !== 'string' || !(await eventLog.getWebhook(after)))) throw invalid('after: the id of an existing webhook');
        if (typeof url !== 'string' || !URL.canParse(url) || url.length > 2048) throw invalid('url: required, an http or https URL');
        try {
          await policy.checkResolved(new URL(url));
        } catch (error) {
          if (error instanceof OutboundDenied) throw new AdminError(400, 'INVALID_REQUEST', `url: ${error.message}`);
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
          ...(caller.user !== undefined ? { createdBy: caller.user } : {}),
        };
        if (!(await eventLog.createWebhook(webhook))) throw new AdminError(409, 'CONFLICT', `a webhook named ${JSON.stringify(name)} exists`);
        options.changed();
        return json(res, 201, { ...webhookJson(webhook), secret: webhook.secret }, { Location: `/pier/api/v1/webhooks/${webhook.id}` });
      }
      const webhook = await find(params.id);
      if (method === 'DELETE') {
        await eventLog.deleteWebhook(webhook.id);
        options.changed();
        res.writeHead(204, { 'Cache-Control': 'no-store' });
        return void res.end();
      }
      if (method === 'POST') {
        // A test event: an image push into the webhook's repository (its pattern with wildcards filled in).
        const repository = webhook.repositories.replace(/\*\*/g, 'test').replace(/\*/g, 'test');
        const event = registryEvent('push', { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 0, digest: `sha256:${'0'.repeat(64)}`, repository, tag: 'pier-test' }, undefined, options.source, new Date());
        (event.payload as { actor: { name?: string } }).actor = { name: caller.user ?? 'pier-test' };
        await options.index.appendEvents([event]);
        options.changed();
        return json(res, 202, { event: event.id });
      }
      return json(res, 200, webhookJson(webhook));
    },
  };
}

function invalid(message: string): AdminError {
  return new AdminError(400, 'INVALID_REQUEST', message);
}
