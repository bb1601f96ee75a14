/**
 * The dispatcher: turns outbox events into deliveries and delivers them. Every Pier process sharing the
 * index runs one; the event log's compare-and-set fan-out and leased claims make each event go once per
 * endpoint, not once per process. Per endpoint, deliveries go one at a time in event order; endpoints do
 * not wait for each other, and nothing here runs on a request's path (a slow receiver slows only its own
 * queue). A failed attempt is retried with exponential backoff and jitter, until the endpoint's maximum
 * attempts make it dead (redeliverable by hand). A process that dies mid-attempt leaves a lease that
 * expires, and another (or the restarted) process takes the delivery over: at-least-once, with a stable
 * delivery id and event id for receivers to deduplicate on.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.ts';
import type { ClaimedDelivery, EventLog, NewDelivery, StoredEvent } from '../event-log.ts';
import { isRegistryEvent } from '../event-model.ts';
import { webhookEndpoint, type Endpoint, type EndpointDefaults, ENDPOINT_DEFAULTS } from './endpoints.ts';
import { renderPayload } from './formats.ts';
import { sendPost } from './http-sender.ts';
import type { OutboundPolicy } from './outbound-policy.ts';
import { callbackToken, DELIVERY_HEADER, EVENT_TYPE_HEADER, signature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signing.ts';

export interface DispatcherOptions {
  eventLog: EventLog;
  /** notifications.endpoints, enabled ones. */
  configEndpoints: Endpoint[];
  policy: OutboundPolicy;
  logger: Logger;
  /** Base URL of this registry as receivers reach it, for callback URLs; default: from the event's request. */
  callbackBaseUrl?: string;
  /** How long finished deliveries stay in the log (default 7 days). */
  retentionMs?: number;
  /** How often to look for work when not woken (default 250 ms). */
  pollMs?: number;
  /** Attempts running at once, over all endpoints (default 32). */
  concurrency?: number;
  webhookDefaults?: EndpointDefaults;
  random?: () => number;
  observe?: AttemptObserver;
}

export type AttemptResult = 'delivered' | 'retry' | 'dead';
/** Told the result of every attempt, with the time since the event (ms). */
export type AttemptObserver = (result: AttemptResult, sinceEventMs: number) => void;

const FAN_OUT_BATCH = 500;
const PRUNE_EVERY_MS = 60_000;
const WEBHOOKS_REFRESH_MS = 1_000;
/** How often to look when nothing can be delivered: as often as the webhook list is refreshed anyway. */
const IDLE_POLL_MS = WEBHOOKS_REFRESH_MS;

export class Dispatcher {
  /** Identifies this process's leases. */
  readonly owner = `dispatcher-${randomUUID()}`;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<void> | undefined;
  private again = false;
  private lastPrune = 0;
  private webhooks: { at: number; endpoints: Endpoint[] } = { at: 0, endpoints: [] };
  private readonly random: () => number;

  constructor(private readonly options: DispatcherOptions) {
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.running = true;
    this.wake();
  }

  /**
   * An event was stored. With somewhere to send it, look for work now; with no endpoint configured and no
   * webhook known, there is nothing to deliver: the next poll fans the events out in one batch (which only
   * moves the cursor) instead of a round per event, so a push does not pay for events nobody receives.
   */
  eventStored(): void {
    if (this.webhooks.at > 0 && this.noReceivers()) return;
    this.wake();
  }

  /**
   * Whether a pull event could reach anybody: a configured endpoint or a known webhook takes pulls, or the
   * webhook list has not been read yet (pull-events.ts).
   */
  receivesPulls(): boolean {
    return this.webhooks.at === 0 || this.options.configEndpoints.some((e) => e.takesPulls) || this.webhooks.endpoints.some((e) => e.takesPulls);
  }

  /** Look for work now (after a webhook was created, a callback received, an attempt finished). */
  wake(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.ticking = this.tick()
      .catch((err: unknown) => this.options.logger.warn({ err }, 'event dispatcher: a round failed; retrying'))
      .finally(() => {
        this.ticking = undefined;
        if (!this.running) return;
        if (this.again) {
          this.again = false;
          this.wake();
        } else {
          this.timer = setTimeout(() => this.wake(), this.idle() ? IDLE_POLL_MS : (this.options.pollMs ?? 250));
        }
      });
  }

  /** Nothing can be delivered: no endpoint configured, no webhook known, no attempt running. */
  private idle(): boolean {
    return this.noReceivers() && this.inFlight.size === 0;
  }

  /** No endpoint configured and no webhook known (the list as last read). */
  private noReceivers(): boolean {
    return this.options.configEndpoints.length === 0 && this.webhooks.endpoints.length === 0;
  }

  /** Stops looking for work and waits (up to `graceMs`) for attempts in flight. */
  async stop(graceMs = 5_000): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    const all = Promise.allSettled([...this.inFlight]);
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  }

  /** One round: fan out new events, claim what is due, start the attempts. */
  async tick(): Promise<void> {
    await this.fanOut();
    const endpoints = await this.endpoints();
    const free = (this.options.concurrency ?? 32) - this.inFlight.size;
    if (free > 0) {
      // Long enough for an attempt with its redirects; a holder that died blocks its endpoint this long at most.
      const leaseMs = Math.max(1_000, ...endpoints.map((e) => e.timeoutMs)) * 2 + 5_000;
      const claimed = await this.options.eventLog.claimDeliveries(this.owner, new Date(), leaseMs, free);
      const byKey = new Map(endpoints.map((e) => [e.key, e]));
      for (const delivery of claimed) {
        const attempt = this.attempt(delivery, byKey.get(delivery.endpoint))
          // Recording the outcome failed (the index is closing, say): the lease expires and the delivery is retried.
          .catch((err: unknown) => this.options.logger.warn({ err, delivery: delivery.id }, 'event dispatcher: could not record an attempt'))
          .finally(() => {
            this.inFlight.delete(attempt);
            this.wake(); // the endpoint's next delivery may be due
          });
        this.inFlight.add(attempt);
      }
    }
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = Date.now();
      const pruned = await this.options.eventLog.prune(new Date(Date.now() - (this.options.retentionMs ?? 7 * 86_400_000)));
      if (pruned > 0) this.options.logger.info({ pruned }, 'delivery log pruned');
    }
  }

  private async endpoints(fresh = false): Promise<Endpoint[]> {
    if (fresh || Date.now() - this.webhooks.at > WEBHOOKS_REFRESH_MS) {
      const records = await this.options.eventLog.listWebhooks();
      this.webhooks = { at: Date.now(), endpoints: records.map((w) => webhookEndpoint(w, this.options.webhookDefaults ?? ENDPOINT_DEFAULTS)) };
    }
    return [...this.options.configEndpoints, ...this.webhooks.endpoints];
  }

  /** Forgets the cached webhook list (after one was created or deleted here). */
  refreshWebhooks(): void {
    this.webhooks.at = 0;
  }

  private async fanOut(): Promise<void> {
    const log = this.options.eventLog;
    for (let round = 0; round < 20; round++) {
      const cursor = await log.fanOutCursor();
      const events = await log.eventsAfter(cursor, FAN_OUT_BATCH);
      if (events.length === 0) return;
      // The webhooks are read after the events: a webhook whose creation was acknowledged before an event was
      // stored always gets it, even when another process created it (a list cached for WEBHOOKS_REFRESH_MS
      // would miss the events of its first second).
      const endpoints = await this.endpoints(true);
      const deliveries = events.flatMap((event) => plan(event, endpoints));
      if (!(await log.fanOut(cursor, events[events.length - 1]!.seq, deliveries))) return; // another process did it
      if (events.length < FAN_OUT_BATCH) return;
    }
  }

  private async attempt(delivery: ClaimedDelivery, endpoint: Endpoint | undefined): Promise<void> {
    const log = this.options.eventLog;
    const started = Date.now();
    if (!endpoint) {
      await log.finishAttempt(delivery.id, this.owner, new Date(), { result: 'dead', latencyMs: 0, error: 'the endpoint is no longer configured' });
      return;
    }
    let status: number | undefined;
    let error: string | undefined;
    try {
      const payload = renderPayload(endpoint, delivery.event, this.callbackUrl(delivery, endpoint));
      const timestamp = Math.floor(Date.now() / 1000);
      const headers: Record<string, string | string[]> = {
        ...endpoint.headers,
        'Content-Type': payload.contentType,
        'User-Agent': 'Pier-Events/1',
        [DELIVERY_HEADER]: delivery.id,
        [EVENT_TYPE_HEADER]: delivery.event.type,
        [TIMESTAMP_HEADER]: String(timestamp),
      };
      if (endpoint.secret) headers[SIGNATURE_HEADER] = signature(endpoint.secret, timestamp, payload.body);
      const result = await sendPost(endpoint.url, {
        headers,
        body: payload.body,
        timeoutMs: endpoint.timeoutMs,
        ...(endpoint.guarded ? { policy: this.options.policy } : {}),
      });
      status = result.status;
      if (status >= 200 && status < 300) {
        const latencyMs = Date.now() - started;
        await log.finishAttempt(delivery.id, this.owner, new Date(), { result: 'delivered', responseCode: status, latencyMs });
        this.options.observe?.('delivered', Date.now() - delivery.event.occurredAt.getTime());
        return;
      }
      error = `HTTP ${status}${status >= 300 && status < 400 ? ' (a redirect other than 307/308 is not followed)' : ''}${result.body ? `: ${result.body.slice(0, 200)}` : ''}`;
    } catch (err) {
      error = (err as Error).message;
    }
    const latencyMs = Date.now() - started;
    const attempts = delivery.attempts + 1;
    const code = status !== undefined ? { responseCode: status } : {};
    if (attempts >= endpoint.maxAttempts) {
      this.options.logger.warn({ delivery: delivery.id, endpoint: endpoint.name, attempts, error }, 'delivery is dead after its last attempt');
      await log.finishAttempt(delivery.id, this.owner, new Date(), { result: 'dead', latencyMs, error: error!, ...code });
      this.options.observe?.('dead', Date.now() - delivery.event.occurredAt.getTime());
      return;
    }
    const delay = Math.min(endpoint.maxBackoffMs, endpoint.backoffMs * 2 ** (attempts - 1)) * (0.5 + this.random());
    await log.finishAttempt(delivery.id, this.owner, new Date(), { result: 'retry', nextAttemptAt: new Date(Date.now() + delay), latencyMs, error: error!, ...code });
    this.options.observe?.('retry', Date.now() - delivery.event.occurredAt.getTime());
  }

  private callbackUrl(delivery: ClaimedDelivery, endpoint: Endpoint): string | undefined {
    if (endpoint.format !== 'hub' || !endpoint.secret) return undefined;
    let base = this.options.callbackBaseUrl?.replace(/\/+$/, '');
    if (!base && isRegistryEvent(delivery.event.payload)) {
      const p = delivery.event.payload;
      if (p.request.host) base = `${p.target.url?.startsWith('https:') ? 'https' : 'http'}://${p.request.host}`;
    }
    return base ? `${base}/pier/api/v1/callbacks/${delivery.id}/${callbackToken(endpoint.secret, delivery.id)}` : undefined;
  }
}

/** The deliveries of one event: one per accepting endpoint; a chained one waits for its predecessor's. */
export function plan(event: StoredEvent, endpoints: Endpoint[]): NewDelivery[] {
  const chosen = new Map<string, NewDelivery>();
  const accepting = endpoints.filter((e) => e.accepts(event));
  // Predecessors first, so a chained endpoint finds its predecessor's delivery.
  const pending = [...accepting];
  for (let guard = 0; pending.length > 0 && guard < 100; guard++) {
    const endpoint = pending.shift()!;
    if (endpoint.after === undefined) {
      chosen.set(endpoint.key, { id: randomUUID(), eventSeq: event.seq, endpoint: endpoint.key, status: 'pending' });
      continue;
    }
    const before = chosen.get(endpoint.after);
    if (before) chosen.set(endpoint.key, { id: randomUUID(), eventSeq: event.seq, endpoint: endpoint.key, status: 'waiting', waitsFor: before.id });
    else if (accepting.some((e) => e.key === endpoint.after) && !chosen.has(endpoint.after)) pending.push(endpoint); // predecessor not placed yet
  }
  return [...chosen.values()];
}
