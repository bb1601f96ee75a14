/** The event log (events/event-log.ts) on SQLite, sharing the index's database (and so its outbox). */
import type Database from 'better-sqlite3';
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

type Row = Record<string, unknown>;

const DELIVERY_COLUMNS = `d.id, d.event_seq, d.endpoint, d.status, d.waits_for, d.attempts, d.next_attempt_at, d.response_code, d.latency_ms,
  d.last_error, d.callback, d.created_at, d.updated_at, d.delivered_at, e.id AS event_id, e.type AS event_type, e.repository`;
const FROM_DELIVERIES = 'event_deliveries d JOIN event_outbox e ON e.seq = d.event_seq';

export class SqliteEventLog implements EventLog {
  private readonly s: ReturnType<typeof prepare>;

  constructor(private readonly db: Database.Database) {
    this.s = prepare(db);
  }

  async fanOutCursor(): Promise<number> {
    return ((this.s.cursor.get() as Row | undefined)?.seq as number | undefined) ?? 0;
  }

  async eventsAfter(after: number, limit: number): Promise<StoredEvent[]> {
    return (this.s.eventsAfter.all(after, limit) as Row[]).map(toEvent);
  }

  async fanOut(from: number, to: number, deliveries: NewDelivery[]): Promise<boolean> {
    return this.db.transaction(() => {
      const current = ((this.s.cursor.get() as Row | undefined)?.seq as number | undefined) ?? 0;
      if (current !== from) return false;
      const now = Date.now();
      for (const d of deliveries) this.s.insertDelivery.run(d.id, d.eventSeq, d.endpoint, d.status, d.waitsFor ?? null, now, now, now);
      this.s.setCursor.run(to);
      return true;
    }).immediate();
  }

  async claimDeliveries(owner: string, now: Date, leaseMs: number, limit: number): Promise<ClaimedDelivery[]> {
    const t = now.getTime();
    // Look without the write lock first: most rounds find nothing, and should not make writers wait.
    if ((this.s.claimable.all(t, t, 1) as Row[]).length === 0) return [];
    return this.db.transaction(() => {
      const rows = this.s.claimable.all(t, t, limit) as Row[];
      const claimed: ClaimedDelivery[] = [];
      for (const row of rows) {
        if (this.s.lease.run(owner, t + leaseMs, row.id, t).changes === 0) continue;
        claimed.push({ ...toDelivery(row), event: toEvent({ ...row, seq: row.event_seq, id: row.event_id, type: row.event_type }) });
      }
      return claimed;
    }).immediate();
  }

  async finishAttempt(id: string, owner: string, now: Date, outcome: AttemptOutcome): Promise<boolean> {
    const t = now.getTime();
    const status: DeliveryStatus = outcome.result === 'delivered' ? 'delivered' : outcome.result === 'dead' ? 'dead' : 'pending';
    const next = outcome.result === 'retry' ? outcome.nextAttemptAt.getTime() : t;
    const error = outcome.result === 'delivered' ? null : outcome.error;
    return (
      this.s.finish.run({
        id,
        owner,
        status,
        next,
        code: outcome.responseCode ?? null,
        latency: Math.round(outcome.latencyMs),
        error,
        now: t,
        delivered: outcome.result === 'delivered' ? t : null,
      }).changes > 0
    );
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const row = this.s.delivery.get(id) as Row | undefined;
    return row ? toDelivery(row) : undefined;
  }

  async listDeliveries(filter: DeliveryFilter): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.endpoint !== undefined) (where.push('d.endpoint = ?'), params.push(filter.endpoint));
    if (filter.status !== undefined) (where.push('d.status = ?'), params.push(filter.status));
    if (filter.repository !== undefined) (where.push('e.repository = ?'), params.push(filter.repository));
    const sql = `SELECT ${DELIVERY_COLUMNS} FROM ${FROM_DELIVERIES} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY d.event_seq DESC, d.created_at DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...params, filter.limit ?? 100) as Row[]).map(toDelivery);
  }

  async redeliver(id: string, now: Date): Promise<boolean> {
    return this.s.redeliver.run(now.getTime(), now.getTime(), id).changes > 0;
  }

  async recordCallback(id: string, report: CallbackReport, now: Date): Promise<boolean> {
    return this.db.transaction(() => {
      const t = now.getTime();
      const callback = JSON.stringify({ ...report, at: t });
      if (this.s.setCallback.run(callback, t, id).changes === 0) return false;
      if (report.state === 'success') this.s.release.run(t, t, id);
      else this.s.cancel.run(t, id);
      return true;
    }).immediate();
  }

  async prune(before: Date): Promise<number> {
    return this.db.transaction(() => {
      const t = before.getTime();
      const removed = this.s.pruneDeliveries.run(t).changes;
      this.s.pruneEvents.run();
      return removed;
    }).immediate();
  }

  async createWebhook(w: WebhookRecord): Promise<boolean> {
    return (
      this.s.insertWebhook.run(w.id, w.name, w.url, w.format, w.repositories, JSON.stringify(w.eventTypes), w.secret, w.after ?? null, w.createdAt.getTime(), w.createdBy ?? null)
        .changes > 0
    );
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return (this.s.webhooks.all() as Row[]).map(toWebhook);
  }

  async getWebhook(id: string): Promise<WebhookRecord | undefined> {
    const row = this.s.webhook.get(id) as Row | undefined;
    return row ? toWebhook(row) : undefined;
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.s.deleteWebhook.run(id).changes > 0;
      if (removed) this.s.deleteDeliveriesOf.run(`webhook:${id}`);
      return removed;
    }).immediate();
  }
}

function toEvent(row: Row): StoredEvent {
  const event: StoredEvent = {
    seq: row.seq as number,
    id: row.id as string,
    type: row.type as string,
    occurredAt: new Date(row.occurred_at as number),
    payload: JSON.parse(row.payload as string) as unknown,
  };
  if (row.repository !== null && row.repository !== undefined) event.repository = row.repository as string;
  return event;
}

function toDelivery(row: Row): DeliveryRecord {
  const d: DeliveryRecord = {
    id: row.id as string,
    eventSeq: row.event_seq as number,
    eventId: row.event_id as string,
    eventType: row.event_type as string,
    endpoint: row.endpoint as string,
    status: row.status as DeliveryStatus,
    attempts: row.attempts as number,
    nextAttemptAt: new Date(row.next_attempt_at as number),
    createdAt: new Date(row.created_at as number),
    updatedAt: new Date(row.updated_at as number),
  };
  if (row.repository != null) d.repository = row.repository as string;
  if (row.waits_for != null) d.waitsFor = row.waits_for as string;
  if (row.response_code != null) d.responseCode = row.response_code as number;
  if (row.latency_ms != null) d.latencyMs = row.latency_ms as number;
  if (row.last_error != null) d.lastError = row.last_error as string;
  if (row.delivered_at != null) d.deliveredAt = new Date(row.delivered_at as number);
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
    createdAt: new Date(row.created_at as number),
  };
  if (row.after != null) w.after = row.after as string;
  if (row.created_by != null) w.createdBy = row.created_by as string;
  return w;
}

function prepare(db: Database.Database) {
  return {
    cursor: db.prepare('SELECT seq FROM event_fanout WHERE id = 1'),
    setCursor: db.prepare('INSERT INTO event_fanout (id, seq) VALUES (1, ?) ON CONFLICT DO UPDATE SET seq = excluded.seq'),
    eventsAfter: db.prepare('SELECT seq, id, type, repository, occurred_at, payload FROM event_outbox WHERE seq > ? ORDER BY seq LIMIT ?'),
    insertDelivery: db.prepare(
      `INSERT INTO event_deliveries (id, event_seq, endpoint, status, waits_for, next_attempt_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    // The head of each endpoint's queue: no earlier pending delivery for the same endpoint.
    claimable: db.prepare(
      `SELECT ${DELIVERY_COLUMNS}, e.occurred_at, e.payload FROM ${FROM_DELIVERIES}
       WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND (d.lease_expires_at IS NULL OR d.lease_expires_at < ?)
         AND NOT EXISTS (SELECT 1 FROM event_deliveries p WHERE p.endpoint = d.endpoint AND p.status = 'pending' AND p.event_seq < d.event_seq)
       ORDER BY d.event_seq LIMIT ?`,
    ),
    lease: db.prepare(
      `UPDATE event_deliveries SET lease_owner = ?, lease_expires_at = ? WHERE id = ? AND status = 'pending'
       AND (lease_expires_at IS NULL OR lease_expires_at < ?)`,
    ),
    finish: db.prepare(
      `UPDATE event_deliveries SET status = @status, attempts = attempts + 1, next_attempt_at = @next, response_code = @code,
         latency_ms = @latency, last_error = @error, updated_at = @now, delivered_at = COALESCE(@delivered, delivered_at),
         lease_owner = NULL, lease_expires_at = NULL
       WHERE id = @id AND lease_owner = @owner AND status = 'pending'`,
    ),
    delivery: db.prepare(`SELECT ${DELIVERY_COLUMNS} FROM ${FROM_DELIVERIES} WHERE d.id = ?`),
    redeliver: db.prepare(
      `UPDATE event_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
       WHERE id = ? AND status IN ('dead', 'cancelled', 'delivered')`,
    ),
    setCallback: db.prepare('UPDATE event_deliveries SET callback = ?, updated_at = ? WHERE id = ?'),
    release: db.prepare(`UPDATE event_deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ? WHERE waits_for = ? AND status = 'waiting'`),
    cancel: db.prepare(`UPDATE event_deliveries SET status = 'cancelled', updated_at = ? WHERE waits_for = ? AND status = 'waiting'`),
    pruneDeliveries: db.prepare(`DELETE FROM event_deliveries WHERE status IN ('delivered', 'dead', 'cancelled') AND updated_at < ?`),
    pruneEvents: db.prepare(
      `DELETE FROM event_outbox WHERE seq <= COALESCE((SELECT seq FROM event_fanout WHERE id = 1), 0)
       AND seq < (SELECT MAX(seq) FROM event_outbox) -- the newest row stays, so a new seq is always larger
       AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_seq = event_outbox.seq)`,
    ),
    insertWebhook: db.prepare(
      `INSERT INTO webhooks (id, name, url, format, repositories, event_types, secret, after, created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    webhooks: db.prepare('SELECT * FROM webhooks ORDER BY created_at, name'),
    webhook: db.prepare('SELECT * FROM webhooks WHERE id = ?'),
    deleteWebhook: db.prepare('DELETE FROM webhooks WHERE id = ?'),
    deleteDeliveriesOf: db.prepare('DELETE FROM event_deliveries WHERE endpoint = ?'),
  };
}
