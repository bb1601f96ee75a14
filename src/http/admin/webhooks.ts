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
import type { EventLog, WebhookRecord } from '../../events/event-log.ts';
import type { EventSource } from '../../events/event-model.ts';
import type { OutboundPolicy } from '../../events/delivery/outbound-policy.ts';
import { createWebhook, sendTestEvent, webhookJson, WebhookInputError } from '../../events/webhooks.ts';
import type { MetadataIndex } from '../../registry/ports.ts';
import { AdminError, json, readJson } from './admin-api.ts';
import { adminResource, type AdminRouteMatch } from './admin-resource.ts';
import type { AdminResource } from './admin-api.ts';

export interface WebhooksResourceOptions {
  eventLog: EventLog;
  index: MetadataIndex;
  policy: OutboundPolicy;
  source: EventSource;
  /** Called after a change, so the dispatcher sees it at once. */
  changed(): void;
}

export function webhooksResource(options: WebhooksResourceOptions): AdminResource {
  const { eventLog, policy } = options;
  const find = async (id: string): Promise<WebhookRecord> => {
    const webhook = /^[0-9a-f-]{36}$/.test(id) ? await eventLog.getWebhook(id) : undefined;
    if (!webhook) throw new AdminError(404, 'NOT_FOUND', 'no such webhook');
    return webhook;
  };
  return adminResource({
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
        let webhook: WebhookRecord;
        try {
          webhook = await createWebhook(eventLog, policy, { name, url, repositories, format, events, after }, caller.user);
        } catch (error) {
          if (error instanceof WebhookInputError) throw new AdminError(error.kind === 'conflict' ? 409 : 400, error.kind === 'conflict' ? 'CONFLICT' : 'INVALID_REQUEST', error.message);
          throw error;
        }
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
        const event = await sendTestEvent(options.index, webhook, options.source, caller.user);
        options.changed();
        return json(res, 202, { event });
      }
      return json(res, 200, webhookJson(webhook));
    },
  });
}

function invalid(message: string): AdminError {
  return new AdminError(400, 'INVALID_REQUEST', message);
}
