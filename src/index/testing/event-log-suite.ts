/**
 * The event log contract (events/event-log.ts) and the outbox side of the index contract: what every index
 * backend must do for events. Run by runIndexSuite with the fixture's `eventLog`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { MetadataIndex, OutboxEvent } from '../../registry/ports.ts';
import type { EventLog, WebhookRecord } from '../../events/event-log.ts';
import { MediaType } from '../../registry/model/media-types.ts';

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;
const event = (type = 'image.pushed', repository = 'app'): OutboxEvent => ({ id: randomUUID(), type, repository, occurredAt: new Date(), payload: { hello: type, n: [1, 2] } });

/** Fans out every event to the given endpoints; returns the deliveries' ids per endpoint in event order. */
async function fanOutAll(log: EventLog, endpoints: string[]): Promise<Map<string, string[]>> {
  const cursor = await log.fanOutCursor();
  const events = await log.eventsAfter(cursor, 1000);
  const ids = new Map<string, string[]>(endpoints.map((e) => [e, []]));
  const deliveries = events.flatMap((e) => endpoints.map((endpoint) => {
    const id = randomUUID();
    ids.get(endpoint)!.push(id);
    return { id, eventSeq: e.seq, endpoint, status: 'pending' as const };
  }));
  assert.equal(await log.fanOut(cursor, events.length ? events[events.length - 1]!.seq : cursor, deliveries), true);
  return ids;
}

export function runEventLogSuite(setup: () => { index: MetadataIndex; eventLog: EventLog | undefined }): void {
  describe('events: outbox and event log', () => {
    const get = (): { index: MetadataIndex; log: EventLog } => {
      const { index, eventLog } = setup();
      assert.ok(eventLog, 'this index backend must provide the event log (events/event-log.ts)');
      return { index, log: eventLog };
    };

    it('stores events with the write that caused them, and only when it takes effect', async () => {
      const { index, log } = get();
      const manifest = { repository: 'app', digest: d(10), mediaType: MediaType.ociManifest, size: 5, blobs: [d(1)], children: [], tag: 'v1' };
      const refused = await index.putManifest(manifest, { events: [event('refused')] });
      assert.equal(refused.kind, 'missing');
      assert.equal(await index.addBlob('app', d(1), 3, [event('blob.pushed')]), 'linked');
      assert.equal((await index.putManifest(manifest, { events: [event('image.pushed')] })).kind, 'stored');
      assert.equal(await index.deleteTag('app', 'nope', undefined, [event('never')]), false);
      assert.equal(await index.deleteTag('app', 'v1', undefined, [event('tag.deleted')]), true);
      assert.deepEqual(await index.deleteManifest('app', d(10), [event('image.deleted')]), []);
      assert.equal(await index.deleteManifest('app', d(10), [event('never')]), undefined);
      assert.equal(await index.removeBlob('app', d(1), [event('blob.deleted')]), true);
      await index.appendEvents([event('image.pulled'), event('build.succeeded', 'other')]);
      const stored = await log.eventsAfter(0, 100);
      assert.deepEqual(stored.map((e) => e.type), ['blob.pushed', 'image.pushed', 'tag.deleted', 'image.deleted', 'blob.deleted', 'image.pulled', 'build.succeeded']);
      assert.ok(stored.every((e, i) => i === 0 || e.seq > stored[i - 1]!.seq), 'seq increases');
      assert.deepEqual(stored[0]!.payload, { hello: 'blob.pushed', n: [1, 2] });
      assert.equal(stored[6]!.repository, 'other');
      await index.clear();
      assert.equal((await log.eventsAfter(0, 100)).length, 7, 'clear() (a reindex) keeps the outbox');
    });

    it('fans out once: the cursor is compare-and-set', async () => {
      const { index, log } = get();
      await index.appendEvents([event(), event()]);
      const events = await log.eventsAfter(0, 10);
      assert.equal(await log.fanOutCursor(), 0);
      assert.equal(await log.fanOut(0, events[1]!.seq, [{ id: randomUUID(), eventSeq: events[0]!.seq, endpoint: 'config:a', status: 'pending' }]), true);
      assert.equal(await log.fanOut(0, events[1]!.seq, [{ id: randomUUID(), eventSeq: events[0]!.seq, endpoint: 'config:b', status: 'pending' }]), false);
      assert.equal(await log.fanOutCursor(), events[1]!.seq);
      assert.equal((await log.listDeliveries({})).length, 1);
      assert.deepEqual(await log.eventsAfter(events[1]!.seq, 10), []);
    });

    it('claims per endpoint in order, under a lease, and records attempts', async () => {
      const { index, log } = get();
      await index.appendEvents([event(), event(), event()]);
      const ids = await fanOutAll(log, ['config:a', 'config:b']);
      const now = new Date();
      const first = await log.claimDeliveries('p1', now, 100_000, 10);
      assert.deepEqual(first.map((c) => c.id).sort(), [ids.get('config:a')![0], ids.get('config:b')![0]].sort(), 'only the head of each endpoint');
      assert.equal(first[0]!.event.type, 'image.pushed');
      assert.deepEqual(await log.claimDeliveries('p2', now, 10_000, 10), [], 'leased heads block their endpoints');
      const a0 = ids.get('config:a')![0]!;
      assert.equal(await log.finishAttempt(a0, 'p2', now, { result: 'delivered', responseCode: 200, latencyMs: 5 }), false, 'only the holder');
      assert.equal(await log.finishAttempt(a0, 'p1', now, { result: 'retry', nextAttemptAt: new Date(now.getTime() + 60_000), responseCode: 500, latencyMs: 7, error: 'HTTP 500' }), true);
      const retried = await log.getDelivery(a0);
      assert.equal(retried?.status, 'pending');
      assert.equal(retried?.attempts, 1);
      assert.equal(retried?.responseCode, 500);
      assert.equal(retried?.lastError, 'HTTP 500');
      assert.equal(retried?.eventType, 'image.pushed');
      assert.deepEqual(await log.claimDeliveries('p2', now, 10_000, 10), [], 'a retry not yet due still holds its endpoint back');
      const later = new Date(now.getTime() + 61_000);
      const again = await log.claimDeliveries('p2', later, 10_000, 10);
      assert.deepEqual(again.map((c) => c.id), [a0], 'due again; b is still leased by p1 until its lease ends');
      assert.equal(await log.finishAttempt(a0, 'p2', later, { result: 'delivered', responseCode: 204, latencyMs: 3 }), true);
      const expired = new Date(now.getTime() + 200_000);
      const next = await log.claimDeliveries('p3', expired, 10_000, 10);
      assert.deepEqual(next.map((c) => c.id).sort(), [ids.get('config:a')![1], ids.get('config:b')![0]].sort(), "p1's expired lease is taken over");
      const b0 = ids.get('config:b')![0]!;
      assert.equal(await log.finishAttempt(b0, 'p3', expired, { result: 'dead', latencyMs: 1, error: 'ECONNREFUSED' }), true);
      assert.equal((await log.getDelivery(b0))?.status, 'dead');
      assert.deepEqual((await log.listDeliveries({ status: 'dead' })).map((x) => x.id), [b0]);
      assert.deepEqual((await log.listDeliveries({ endpoint: 'config:a', status: 'delivered' })).map((x) => x.id), [a0]);
      assert.equal(await log.redeliver(b0, expired), true);
      assert.equal((await log.getDelivery(b0))?.attempts, 0);
      assert.equal(await log.redeliver(randomUUID(), expired), false);
    });

    it('records callbacks: success releases the chain, failure cancels it', async () => {
      const { index, log } = get();
      await index.appendEvents([event(), event()]);
      const [e1, e2] = await log.eventsAfter(0, 10);
      const [h1, w1, h2, w2] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      assert.equal(
        await log.fanOut(0, e2!.seq, [
          { id: h1, eventSeq: e1!.seq, endpoint: 'webhook:x', status: 'pending' },
          { id: w1, eventSeq: e1!.seq, endpoint: 'webhook:y', status: 'waiting', waitsFor: h1 },
          { id: h2, eventSeq: e2!.seq, endpoint: 'webhook:x', status: 'pending' },
          { id: w2, eventSeq: e2!.seq, endpoint: 'webhook:y', status: 'waiting', waitsFor: h2 },
        ]),
        true,
      );
      const now = new Date();
      assert.deepEqual((await log.claimDeliveries('p', now, 1000, 10)).map((c) => c.id), [h1], 'waiting deliveries are not claimed');
      assert.equal(await log.recordCallback(h1, { state: 'success', description: 'tests passed', context: 'ci', targetUrl: 'https://ci.example/1' }, now), true);
      const released = await log.getDelivery(w1);
      assert.equal(released?.status, 'pending');
      assert.equal(released?.waitsFor, h1);
      assert.equal((await log.getDelivery(h1))?.callback?.description, 'tests passed');
      assert.equal(await log.recordCallback(h2, { state: 'failure' }, now), true);
      assert.equal((await log.getDelivery(w2))?.status, 'cancelled');
      assert.equal(await log.recordCallback(randomUUID(), { state: 'success' }, now), false);
    });

    it('prunes finished deliveries and their events by age', async () => {
      const { index, log } = get();
      await index.appendEvents([{ ...event(), occurredAt: new Date(Date.now() - 10_000) }, event()]);
      const ids = await fanOutAll(log, ['config:a']);
      const [old, fresh] = ids.get('config:a')!;
      const claimed = await log.claimDeliveries('p', new Date(), 1000, 10);
      assert.equal(claimed[0]!.id, old);
      await log.finishAttempt(old!, 'p', new Date(Date.now() - 5_000), { result: 'delivered', responseCode: 200, latencyMs: 1 });
      assert.equal(await log.prune(new Date(Date.now() - 1_000)), 1);
      assert.equal(await log.getDelivery(old!), undefined);
      assert.equal((await log.getDelivery(fresh!))?.status, 'pending', 'unfinished deliveries stay');
      assert.equal((await log.eventsAfter(0, 10)).length, 1, 'the old event went with its last delivery');
      await index.appendEvents([event(), event()]);
      const cursor = await log.fanOutCursor();
      const [unmatched, newest] = await log.eventsAfter(cursor, 10);
      assert.equal(await log.fanOut(cursor, newest!.seq, []), true);
      await log.prune(new Date(0));
      const left = (await log.eventsAfter(0, 10)).map((e) => e.seq);
      assert.ok(!left.includes(unmatched!.seq), 'an event no endpoint took is dropped once fanned out');
      assert.ok(left.includes((await log.getDelivery(fresh!))!.eventSeq));
      // A backend may keep the newest event (SQLite does, so rowids never go back); either way seq only grows.
      await index.appendEvents([event()]);
      const [added] = await log.eventsAfter(newest!.seq, 10);
      assert.ok(added && added.seq > newest!.seq, 'seq never goes back, even after pruning');
    });

    it('keeps webhooks, unique by name; deleting one drops its deliveries', async () => {
      const { index, log } = get();
      const hook: WebhookRecord = { id: randomUUID(), name: 'ci', url: 'https://ci.example/hook', format: 'hub', repositories: 'team/*', eventTypes: ['image.pushed'], secret: 's3cret', createdAt: new Date(1_700_000_000_000), createdBy: 'alice' };
      assert.equal(await log.createWebhook(hook), true);
      assert.equal(await log.createWebhook({ ...hook, id: randomUUID() }), false);
      const chained = { ...hook, id: randomUUID(), name: 'deploy', format: 'cloudevents' as const, after: hook.id, eventTypes: [] };
      assert.equal(await log.createWebhook(chained), true);
      assert.deepEqual(await log.getWebhook(hook.id), hook);
      assert.deepEqual((await log.listWebhooks()).map((w) => w.name).sort(), ['ci', 'deploy']);
      await index.appendEvents([event()]);
      await fanOutAll(log, [`webhook:${hook.id}`]);
      assert.equal(await log.deleteWebhook(hook.id), true);
      assert.equal(await log.deleteWebhook(hook.id), false);
      assert.deepEqual(await log.listDeliveries({}), []);
    });
  });
}
