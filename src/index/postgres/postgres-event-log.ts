/**
 * The event log (events/event-log.ts) on PostgreSQL, beside the outbox the index writes
 * (postgres-outbox.ts). Replicas claim deliveries with a conditional UPDATE per row: under READ COMMITTED
 * the second of two claimants re-checks the lease on the updated row and gets nothing, so a delivery has
 * one holder at a time. The fan-out cursor is a compare-and-set on one row.
 */
import type { Pool } from 'pg';
import type {
  AttemptOutcome,
  CallbackReport,
  ClaimedDelivery,
  DeliveryFilter,
  DeliveryRecord,
  DeliveryStatus,
  EventLog,
  NewDelivery,
  StoredEvent,
  WebhookFormat,
  WebhookRecord,
} from '../../events/event-log.ts';
import { inTransaction } from './postgres-transactions.ts';

type Row = Record<string, unknown>;

const DELIVERY_COLUMNS = `d.id, d.event_seq, d.endpoint, d.status, d.waits_for, d.attempts, d.next_attempt_at, d.response_code, d.latency_ms,
  d.last_error, d.callback, d.created_at, d.updated_at, d.delivered_at, e.id AS event_id, e.type AS event_type, e.repository`;
const FROM_DELIVERIES = 'event_deliveries d JOIN event_outbox e ON e.seq = d.event_seq';
// The head of each endpoint's queue: no earlier pending delivery for the same endpoint.
const CLAIMABLE = `SELECT ${DELIVERY_COLUMNS}, e.occurred_at, e.payload FROM ${FROM_DELIVERIES}
  WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.lease_expires_at IS NULL OR d.lease_expires_at < $1)
    AND NOT EXISTS (SELECT 1 FROM event_deliveries p WHERE p.endpoint = d.endpoint AND p.status = 'pending' AND p.event_seq < d.event_seq)
  ORDER BY d.event_seq LIMIT $2`;

export class PostgresEventLog implements EventLog {
  constructor(private readonly pool: Pool) {}

  async fanOutCursor(): Promise<number> {
    const { rows } = await this.pool.query<{ seq: string }>('SELECT seq FROM event_fanout WHERE id = 1');
    return Number(rows[0]?.seq ?? 0);
  }

  async eventsAfter(after: number, limit: number): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query('SELECT seq, id, type, repository, occurred_at, payload FROM event_outbox WHERE seq > $1 ORDER BY seq LIMIT $2', [after, limit]);
    return rows.map(toEvent);
  }

  async fanOut(from: number, to: number, deliveries: NewDelivery[]): Promise<boolean> {
    return inTransaction(this.pool, async (q) => {
      const moved = await q.query('UPDATE event_fanout SET seq = $2 WHERE id = 1 AND seq = $1', [from, to]);
      if ((moved.rowCount ?? 0) === 0) return false; // another replica fanned these out (its row lock made us wait)
      if (deliveries.length > 0) {
        const now = Date.now();
        await q.query(
          `INSERT INTO event_deliveries (id, event_seq, endpoint, status, waits_for, next_attempt_at, created_at, updated_at)
           SELECT id, seq, endpoint, status, waits_for, $6, $6, $6 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[])
             AS x (id, seq, endpoint, status, waits_for)
           ON CONFLICT DO NOTHING`,
          [deliveries.map((d) => d.id), deliveries.map((d) => d.eventSeq), deliveries.map((d) => d.endpoint), deliveries.map((d) => d.status), deliveries.map((d) => d.waitsFor ?? null), now],
        );
      }
      return true;
    });
  }

  async claimDeliveries(owner: string, now: Date, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
    const t = now.getTime();
    const { rows } = await this.pool.query(CLAIMABLE, [t, limit]);
    const claimed: ClaimedDelivery[] = [];
    for (const row of rows) {
      const leased = await this.pool.query(
        `UPDATE event_deliveries SET lease_owner = $1, lease_expires_at = $2 WHERE id = $3 AND status = 'pending'
         AND (lease_expires_at IS NULL OR lease_expires_at < $4)`,
        [owner, t + leaseMs, row.id, t],
      );
      if ((leased.rowCount ?? 0) === 0) continue;
      claimed.push({ ...toDelivery(row), event: toEvent({ ...row, seq: row.event_seq, id: row.event_id, type: row.event_type }) });
    }
    return claimed;
  }

  async finishAttempt(id: string, owner: string, now: Date, outcome: AttemptOutcome): Promise<boolean> {
    const t = now.getTime();
    const status: DeliveryStatus = outcome.result === 'delivered' ? 'delivered' : outcome.result === 'dead' ? 'dead' : 'pending';
    const next = outcome.result === 'retry' ? outcome.nextAttemptAt.getTime() : t;
    const result = await this.pool.query(
      `UPDATE event_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4, response_code = $5, latency_ms = $6,
         last_error = $7, updated_at = $8, delivered_at = COALESCE($9, delivered_at), lease_owner = NULL, lease_expires_at = NULL
       WHERE id = $1 AND lease_owner = $2 AND status = 'pending'`,
      [id, owner, status, next, outcome.responseCode ?? null, Math.round(outcome.latencyMs), outcome.result === 'delivered' ? null : outcome.error, t, outcome.result === 'delivered' ? t : null],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const { rows } = await this.pool.query(`SELECT ${DELIVERY_COLUMNS} FROM ${FROM_DELIVERIES} WHERE d.id = $1`, [id]);
    return rows[0] ? toDelivery(rows[0]) : undefined;
  }

  async listDeliveries(filter: DeliveryFilter): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.endpoint !== undefined) add('d.endpoint = ?', filter.endpoint);
    if (filter.status !== undefined) add('d.status = ?', filter.status);
    if (filter.repository !== undefined) add('e.repository = ?', filter.repository);
    params.push(filter.limit ?? 100);
    const { rows } = await this.pool.query(
      `SELECT ${DELIVERY_COLUMNS} FROM ${FROM_DELIVERIES} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY d.event_seq DESC, d.created_at DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(toDelivery);
  }

  async redeliver(id: string, now: Date): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = $1 AND status IN ('dead', 'cancelled', 'delivered')`,
      [id, now.getTime()],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async recordCallback(id: string, report: CallbackReport, now: Date): Promise<boolean> {
    const t = now.getTime();
    return inTransaction(this.pool, async (q) => {
      const set = await q.query('UPDATE event_deliveries SET callback = $2, updated_at = $3 WHERE id = $1', [id, JSON.stringify({ ...report, at: t }), t]);
      if ((set.rowCount ?? 0) === 0) return false;
      if (report.state === 'success') {
        await q.query(`UPDATE event_deliveries SET status = 'pending', next_attempt_at = $2, updated_at = $2 WHERE waits_for = $1 AND status = 'waiting'`, [id, t]);
      } else {
        await q.query(`UPDATE event_deliveries SET status = 'cancelled', updated_at = $2 WHERE waits_for = $1 AND status = 'waiting'`, [id, t]);
      }
      return true;
    });
  }

  async prune(before: Date): Promise<number> {
    return inTransaction(this.pool, async (q) => {
      const removed = await q.query(`DELETE FROM event_deliveries WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < $1`, [before.getTime()]);
      await q.query(
        `DELETE FROM event_outbox o WHERE o.seq <= (SELECT seq FROM event_fanout WHERE id = 1)
         AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_seq = o.seq)`,
      );
      return removed.rowCount ?? 0;
    });
  }

  async createWebhook(w: WebhookRecord): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO webhooks (id, name, url, format, repositories, event_types, secret, after, created_at, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
      [w.id, w.name, w.url, w.format, w.repositories, JSON.stringify(w.eventTypes), w.secret, w.after ?? null, w.createdAt.getTime(), w.createdBy ?? null],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return (await this.pool.query('SELECT * FROM webhooks ORDER BY created_at, name')).rows.map(toWebhook);
  }

  async getWebhook(id: string): Promise<WebhookRecord | undefined> {
    const { rows } = await this.pool.query('SELECT * FROM webhooks WHERE id = $1', [id]);
    return rows[0] ? toWebhook(rows[0]) : undefined;
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return inTransaction(this.pool, async (q) => {
      const removed = (await q.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0;
      if (removed > 0) await q.query('DELETE FROM event_deliveries WHERE endpoint = $1', [`webhook:${id}`]);
      return removed > 0;
    });
  }
}

// bigint columns arrive as strings from node-postgres.
const num = (v: unknown): number => Number(v);

function toEvent(row: Row): StoredEvent {
  const event: StoredEvent = {
    seq: num(row.seq),
    id: row.id as string,
    type: row.type as string,
    occurredAt: new Date(num(row.occurred_at)),
    payload: JSON.parse(row.payload as string) as unknown,
  };
  if (row.repository != null) event.repository = row.repository as string;
  return event;
}

function toDelivery(row: Row): DeliveryRecord {
  const d: DeliveryRecord = {
    id: row.id as string,
    eventSeq: num(row.event_seq),
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    endpoint: row.endpoint as string,
    status: row.status as DeliveryStatus,
    attempts: num(row.attempts),
    nextAttemptAt: new Date(num(row.next_attempt_at)),
    createdAt: new Date(num(row.created_at)),
    updatedAt: new Date(num(row.updated_at)),
  };
  if (row.repository != null) d.repository = row.repository as string;
  if (row.waits_for != null) d.waitsFor = row.waits_for as string;
  if (row.response_code != null) d.responseCode = num(row.response_code);
  if (row.latency_ms != null) d.latencyMs = num(row.latency_ms);
  if (row.last_error != null) d.lastError = row.last_error as string;
  if (row.delivered_at != null) d.deliveredAt = new Date(num(row.delivered_at));
  if (row.callback != null) {
    const c = JSON.parse(row.callback as string) as CallbackReport & { at: number };
    d.callback = { ...c, at: new Date(c.at) };
  }
  return d;
}

function toWebhook(row: Row): WebhookRecord {
  const w: WebhookRecord = {
    id: row.id as string,
    name: row.name as string,
    url: row.url as string,
    format: row.format as WebhookFormat,
    repositories: row.repositories as string,
    eventTypes: JSON.parse(row.event_types as string) as string[],
    secret: row.secret as string,
    createdAt: new Date(num(row.created_at)),
  };
  if (row.after != null) w.after = row.after as string;
  if (row.created_by != null) w.createdBy = row.created_by as string;
  return w;
}
