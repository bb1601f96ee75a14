/**
 * The event log port: what the delivery side of events needs from the metadata index. The SQLite index
 * implements it (index/sqlite/sqlite-event-log.ts) over the same database file as the outbox, and every
 * backend passes index/testing/event-log-suite.ts. Every method is one transaction.
 *
 * The life of an event:
 *   1. a write stores it in the outbox (MetadataIndex `events` options, or appendEvents) with a `seq`;
 *   2. fan-out: one process at a time turns outbox events after the fan-out cursor into one delivery row
 *      per matching endpoint, moving the cursor in the same transaction (compare-and-set, so two processes
 *      never fan out the same event twice);
 *   3. dispatch: processes claim the head delivery of each endpoint under a lease, attempt it, and record
 *      the outcome; a lease that expires (its holder died) makes the delivery claimable again.
 *
 * Ordering rule for implementations: `seq` must become visible in increasing order (a committed event never
 * gets a smaller seq than one already visible), or fan-out would skip it. SQLite serialises writers, which
 * gives this for free; PostgreSQL serialises outbox inserts with a transaction-level advisory lock
 * (index/postgres/postgres-outbox.ts) so sequence values commit in order.
 */

/** An event as stored in the outbox. */
export interface StoredEvent {
  /** Position in the outbox: increasing in commit order. */
  seq: number;
  id: string;
  type: string;
  repository?: string;
  occurredAt: Date;
  payload: unknown;
}

/**
 * pending: waiting for an attempt (now or at nextAttemptAt) · delivered · dead: gave up after the maximum
 * attempts (redeliverable) · waiting: a chained webhook waiting for its predecessor's success callback ·
 * cancelled: its chain stopped (the predecessor called back with failure or error).
 */
export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'waiting' | 'cancelled';

export type CallbackState = 'success' | 'failure' | 'error';

export interface CallbackReport {
  state: CallbackState;
  description?: string;
  context?: string;
  targetUrl?: string;
}

export interface NewDelivery {
  /** Unique (a UUID): the delivery id receivers see. */
  id: string;
  eventSeq: number;
  /** The endpoint's key: `config:<name>` for config.yml endpoints, `webhook:<id>` for API webhooks. */
  endpoint: string;
  /** 'pending' normally; 'waiting' for a chained webhook, with `waitsFor`. */
  status: 'pending' | 'waiting';
  /** The delivery whose success callback releases this one. */
  waitsFor?: string;
}

export interface DeliveryRecord {
  id: string;
  eventSeq: number;
  eventId: string;
  eventType: string;
  repository?: string;
  endpoint: string;
  status: DeliveryStatus;
  waitsFor?: string;
  attempts: number;
  nextAttemptAt: Date;
  /** Of the last attempt. */
  responseCode?: number;
  latencyMs?: number;
  lastError?: string;
  callback?: CallbackReport & { at: Date };
  createdAt: Date;
  updatedAt: Date;
  deliveredAt?: Date;
}

/** A delivery claimed for an attempt, with the event to send. */
export interface ClaimedDelivery extends DeliveryRecord {
  event: StoredEvent;
}

export type AttemptOutcome =
  | { result: 'delivered'; responseCode: number; latencyMs: number }
  /** Failed; try again at nextAttemptAt. */
  | { result: 'retry'; nextAttemptAt: Date; responseCode?: number; latencyMs: number; error: string }
  /** Failed for the last time. */
  | { result: 'dead'; responseCode?: number; latencyMs: number; error: string };

export interface DeliveryFilter {
  endpoint?: string;
  status?: DeliveryStatus;
  repository?: string;
  /** Newest first; at most this many (default 100). */
  limit?: number;
}

export type WebhookFormat = 'reference' | 'hub' | 'cloudevents';

/** A repository webhook created through the admin API or the CLI. */
export interface WebhookRecord {
  id: string;
  name: string;
  url: string;
  format: WebhookFormat;
  /** A repository name, or a pattern with `*` (any characters except `/`) and `**` (any characters). */
  repositories: string;
  /** Pier event types it receives (`image.pushed`, …); empty: the format's default. */
  eventTypes: string[];
  /** HMAC-SHA256 key for the signature header. */
  secret: string;
  /** Chains: the webhook whose success callback this one waits for. */
  after?: string;
  createdAt: Date;
  createdBy?: string;
}

export interface EventLog {
  /** The fan-out cursor: every event with seq ≤ it has its deliveries. Starts at 0. */
  fanOutCursor(): Promise<number>;
  /** Outbox events with seq > `after`, in seq order, at most `limit`. */
  eventsAfter(after: number, limit: number): Promise<StoredEvent[]>;
  /**
   * Inserts the deliveries and moves the cursor from `from` to `to`, only if the cursor is still at `from`;
   * false (and nothing written) when another process moved it first.
   */
  fanOut(from: number, to: number, deliveries: NewDelivery[]): Promise<boolean>;

  /**
   * Claims up to `limit` deliveries for `owner` until now + leaseMs: each the oldest unfinished (pending)
   * delivery of its endpoint (per-endpoint order: a later one waits while an earlier one is pending, leased
   * or not), due (nextAttemptAt ≤ now) and not leased by anyone else (or its lease expired).
   */
  claimDeliveries(owner: string, now: Date, leaseMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt (attempts + 1) and releases the lease; false when `owner` no longer holds it. */
  finishAttempt(id: string, owner: string, now: Date, outcome: AttemptOutcome): Promise<boolean>;

  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  listDeliveries(filter: DeliveryFilter): Promise<DeliveryRecord[]>;
  /** Makes a dead, cancelled or delivered delivery pending again (attempts reset, due now); false if unknown. */
  redeliver(id: string, now: Date): Promise<boolean>;
  /**
   * Records a receiver's callback on a delivery. `success` releases deliveries waiting for it (pending, due
   * now); `failure` and `error` cancel them (the chain stops). False when the delivery is unknown.
   */
  recordCallback(id: string, report: CallbackReport, now: Date): Promise<boolean>;
  /**
   * Deletes finished deliveries (delivered, dead, cancelled) last updated before `before`, then every outbox
   * event behind the fan-out cursor that has no delivery left (whatever its age: nothing needs it any more,
   * and a registry without endpoints keeps no backlog). A backend may keep the newest event if that is how
   * it keeps `seq` from going back (SQLite's rowid). Returns the number of deliveries deleted.
   */
  prune(before: Date): Promise<number>;

  /** False (nothing written) when a webhook of that name exists. */
  createWebhook(webhook: WebhookRecord): Promise<boolean>;
  listWebhooks(): Promise<WebhookRecord[]>;
  getWebhook(id: string): Promise<WebhookRecord | undefined>;
  /** Also deletes its deliveries; false if unknown. */
  deleteWebhook(id: string): Promise<boolean>;
}
