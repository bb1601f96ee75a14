/**
 * Docker Hub-style callbacks (Pier-only): a receiver POSTs `{"state": "success"|"failure"|"error",
 * "description", "context", "target_url"}` to the `callback_url` of a Hub-format delivery,
 * `/pier/api/v1/callbacks/{delivery}/{token}`. No login: the token (an HMAC of the delivery id with the
 * webhook's secret) proves the caller received that delivery. Pier records the state on the delivery;
 * `success` releases the next webhook of a chain, `failure` and `error` stop the chain.
 */
import type { CallbackState, EventLog } from '../../events/event-log.ts';
import { callbackToken, sameToken } from '../../events/delivery/signing.ts';
import { AdminError, json, readJson } from './admin-api.ts';
import { adminResource, type AdminRouteMatch } from './admin-resource.ts';
import type { AdminResource } from './admin-api.ts';

const STATES: CallbackState[] = ['success', 'failure', 'error'];

/** `secretOf(endpointKey)`: the signing secret of the endpoint a delivery went to, if it has one. */
export function callbacksResource(eventLog: EventLog, secretOf: (endpoint: string) => Promise<string | undefined>, changed: () => void): AdminResource {
  return adminResource({
    match(rest): AdminRouteMatch | undefined {
      const m = /^callbacks\/([0-9a-f-]{36})\/([0-9a-f]{40})$/.exec(rest);
      return m ? { id: 'admin-callback', methods: ['POST'], params: { id: m[1]!, token: m[2]! }, public: true } : undefined;
    },
    async handle({ req, res, params }) {
      const delivery = await eventLog.getDelivery(params.id!);
      const secret = delivery ? await secretOf(delivery.endpoint) : undefined;
      if (!delivery || !secret || !sameToken(callbackToken(secret, delivery.id), params.token!)) throw new AdminError(404, 'NOT_FOUND', 'no such callback');
      const body = await readJson(req);
      const { state, description, context, target_url: targetUrl } = body;
      if (!STATES.includes(state as CallbackState)) throw new AdminError(400, 'INVALID_REQUEST', `state: one of ${STATES.join(', ')}`);
      for (const [key, value] of [['description', description], ['context', context], ['target_url', targetUrl]] as const) {
        if (value !== undefined && (typeof value !== 'string' || value.length > 2000)) throw new AdminError(400, 'INVALID_REQUEST', `${key}: a string of at most 2000 characters`);
      }
      await eventLog.recordCallback(
        delivery.id,
        {
          state: state as CallbackState,
          ...(description !== undefined ? { description: description as string } : {}),
          ...(context !== undefined ? { context: context as string } : {}),
          ...(targetUrl !== undefined ? { targetUrl: targetUrl as string } : {}),
        },
        new Date(),
      );
      changed();
      json(res, 200, { id: delivery.id, state });
    },
  });
}
