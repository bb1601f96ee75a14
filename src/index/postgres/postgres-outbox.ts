/**
 * Writing events to the outbox inside an index transaction (events/event-log.ts explains the outbox).
 * PostgreSQL hands out sequence values when rows are inserted, not when transactions commit, so two
 * transactions could commit seq 8 before seq 7 and a fan-out between them would skip 7. Every outbox insert
 * therefore first takes one transaction-level advisory lock, held to commit: outbox writers commit one at a
 * time, in seq order. It is taken last in its transaction (after any digest locks), so it cannot deadlock.
 */
import type { OutboxEvent } from '../../registry/ports.ts';
import { advisoryKey } from './advisory-keys.ts';
import type { Query } from './postgres-transactions.ts';

const OUTBOX_LOCK = advisoryKey('events', 'outbox');

export async function storeEvents(q: Query, events: OutboxEvent[] | undefined): Promise<void> {
  if (!events || events.length === 0) return;
  await q.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_LOCK]);
  await q.query(
    `INSERT INTO event_outbox (id, type, repository, occurred_at, payload)
     SELECT id, type, repository, occurred_at, payload
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY AS e (id, type, repository, occurred_at, payload, n)
     ORDER BY n`,
    [
      events.map((e) => e.id),
      events.map((e) => e.type),
      events.map((e) => e.repository ?? null),
      events.map((e) => e.occurredAt.getTime()),
      events.map((e) => JSON.stringify(e.payload)),
    ],
  );
}
