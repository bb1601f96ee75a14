/**
 * Admin API: the delivery log (Pier-only), admins only.
 *
 * | method | path | what |
 * |---|---|---|
 * | GET | `deliveries[?endpoint=E&status=S&repository=R&limit=N]` | newest first: status, response code, latency, attempts, last error, callback |
 * | GET | `deliveries/{id}` | one delivery |
 * | POST | `deliveries/{id}/redeliver` | make a dead, cancelled or delivered delivery pending again → 202 |
 */
import type { DeliveryRecord, DeliveryStatus, EventLog } from '../../events/event-log.ts';
import { AdminError, json } from './admin-api.ts';
import { adminResource, type AdminRouteMatch } from './admin-resource.ts';
import type { AdminResource } from './admin-api.ts';

const STATUSES: DeliveryStatus[] = ['pending', 'delivered', 'dead', 'waiting', 'cancelled'];

export function deliveryJson(d: DeliveryRecord): Record<string, unknown> {
  return {
    ...d,
    nextAttemptAt: d.nextAttemptAt.toISOString(),
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
    ...(d.deliveredAt ? { deliveredAt: d.deliveredAt.toISOString() } : {}),
    ...(d.callback ? { callback: { ...d.callback, at: d.callback.at.toISOString() } } : {}),
  };
}

export function deliveriesResource(eventLog: EventLog, changed: () => void): AdminResource {
  return adminResource({
    match(rest): AdminRouteMatch | undefined {
      if (rest === 'deliveries') return { id: 'admin-deliveries', methods: ['GET', 'HEAD'], params: {} };
      const m = /^deliveries\/([0-9a-f-]{36})(\/redeliver)?$/.exec(rest);
      if (!m) return undefined;
      return m[2] ? { id: 'admin-delivery-redeliver', methods: ['POST'], params: { id: m[1]! } } : { id: 'admin-delivery', methods: ['GET', 'HEAD'], params: { id: m[1]! } };
    },
    async handle({ res, method, query, params }) {
      if (params.id === undefined) {
        const status = query.get('status');
        if (status !== null && !STATUSES.includes(status as DeliveryStatus)) throw new AdminError(400, 'INVALID_REQUEST', `status: one of ${STATUSES.join(', ')}`);
        const limitText = query.get('limit');
        const limit = limitText === null ? 100 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AdminError(400, 'INVALID_REQUEST', 'limit: 1 to 1000');
        const list = await eventLog.listDeliveries({
          limit,
          ...(status !== null ? { status: status as DeliveryStatus } : {}),
          ...(query.get('endpoint') !== null ? { endpoint: query.get('endpoint')! } : {}),
          ...(query.get('repository') !== null ? { repository: query.get('repository')! } : {}),
        });
        return json(res, 200, { deliveries: list.map(deliveryJson) });
      }
      if (method === 'POST') {
        if (!(await eventLog.redeliver(params.id, new Date()))) {
          const known = await eventLog.getDelivery(params.id);
          if (!known) throw new AdminError(404, 'NOT_FOUND', 'no such delivery');
          throw new AdminError(409, 'CONFLICT', `the delivery is ${known.status}: only dead, cancelled or delivered deliveries can be redelivered`);
        }
        changed();
        return json(res, 202, { id: params.id, status: 'pending' });
      }
      const delivery = await eventLog.getDelivery(params.id);
      if (!delivery) throw new AdminError(404, 'NOT_FOUND', 'no such delivery');
      return json(res, 200, deliveryJson(delivery));
    },
  });
}
