/**
 * How deliveries behave: a receiver failing for a while gets retries (same delivery and event ids) and
 * then everything in push order; a receiver that never answers well makes the delivery dead after N
 * attempts, and a redelivery by hand succeeds; a receiver that takes 5 s does not slow pushes or the other
 * endpoints. Also measures delivery latency (push acknowledged → receiver) and the push rate with events
 * on and off, printed in the test output.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startReceiver, type Receiver, type ReceivedRequest } from '../support/webhook-receiver.ts';
import { buildImage, pushBlob, putManifest, OCI_MANIFEST } from '../support/http-fixtures.ts';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { eventsSettings } from '../../src/events/events-settings.ts';
import { configSchema } from '../../src/config/schema.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { EventRecordingIndex } from '../../src/events/recording-index.ts';
import { MediaType } from '../../src/registry/model/media-types.ts';
import type { MetadataIndex } from '../../src/registry/ports.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const MANIFESTS_ONLY = { ignore: { mediatypes: ['application/octet-stream'] } };

async function startPierWith(dataDir: string, notifications: Json): Promise<RunningServer> {
  const config = configSchema.parse({ version: '0.1', notifications });
  return startServer({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('silent'), events: eventsSettings(config.notifications) });
}

/** Pushes the shared config and layer once; then each manifest push is one small PUT (one event). */
async function imagePusher(base: string, repository: string): Promise<(tag: string) => Promise<{ digest: string; ackMs: number; sentAt: number; ackAt: number }>> {
  const template = buildImage({ layers: [Buffer.from('shared layer')] });
  for (const blob of template.blobs) await pushBlob(base, repository, blob.data);
  return async (tag) => {
    const image = buildImage({ config: template.config, layers: template.layers, annotations: { n: randomBytes(6).toString('hex') } });
    const sentAt = Date.now();
    const started = performance.now();
    const res = await putManifest(base, repository, tag, image.manifest, OCI_MANIFEST);
    await res.arrayBuffer();
    assert.equal(res.status, 201);
    return { digest: image.digest, ackMs: performance.now() - started, sentAt, ackAt: Date.now() };
  };
}

const tagOf = (r: ReceivedRequest): string => JSON.parse(r.body.toString()).events[0].target.tag;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const percentile = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

describe('event delivery behaviour', { timeout: 90_000 }, () => {
  let receiver: Receiver;
  let withSlow: RunningServer;
  let plain: RunningServer;
  let eventsOff: RunningServer;
  let scratch: string;
  const url = (s: RunningServer): string => `http://127.0.0.1:${s.port}`;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pier-delivery-'));
    receiver = await startReceiver();
    let flakyFailures = 0;
    receiver.answer = (r) => {
      if (r.path === '/flaky' && flakyFailures < 6) {
        flakyFailures++;
        return { status: 503, body: 'not now' };
      }
      if (r.path === '/broken') return { status: 500, body: 'broken' };
      if (r.path === '/slow') return { delayMs: 5_000 };
      return {};
    };
    withSlow = await startPierWith(join(scratch, 'a'), {
      events: { pulls: { enabled: false } },
      endpoints: [
        { name: 'flaky', url: `${receiver.url}/flaky`, backoff: '100ms', maxbackoff: '300ms', ...MANIFESTS_ONLY },
        { name: 'broken', url: `${receiver.url}/broken`, backoff: '50ms', maxattempts: 3, ...MANIFESTS_ONLY },
        { name: 'slow', url: `${receiver.url}/slow`, timeout: '10s', ...MANIFESTS_ONLY },
        { name: 'fast', url: `${receiver.url}/fast-a`, ...MANIFESTS_ONLY },
      ],
    });
    plain = await startPierWith(join(scratch, 'b'), { endpoints: [{ name: 'fast', url: `${receiver.url}/fast-b`, ...MANIFESTS_ONLY }] });
    eventsOff = await startPierWith(join(scratch, 'c'), { events: { enabled: false } });
  });

  after(async () => {
    await withSlow?.close();
    await plain?.close();
    await eventsOff?.close();
    await receiver?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('a receiver taking 5 s slows neither pushes nor other endpoints; a failing one gets retries, in order', async () => {
    const pushSlow = await imagePusher(url(withSlow), 'team/app');
    const pushPlain = await imagePusher(url(plain), 'team/app');
    const slowLatencies: number[] = [];
    const plainLatencies: number[] = [];
    for (const tag of ['t1', 't2', 't3', 't4', 't5']) {
      slowLatencies.push((await pushSlow(tag)).ackMs);
      plainLatencies.push((await pushPlain(tag)).ackMs);
    }
    console.log(`push latency (ms), median of 5: ${median(slowLatencies).toFixed(1)} with a 5 s receiver, ${median(plainLatencies).toFixed(1)} without; all with: ${slowLatencies.map((x) => x.toFixed(1)).join(', ')}`);
    assert.ok(Math.max(...slowLatencies) < 2_500, 'no push waited for the 5 s receiver');
    assert.ok(median(slowLatencies) < median(plainLatencies) * 5 + 500, 'pushes with a slow receiver are about as fast as without (generous: the machine is shared)');
    // The fast endpoint of the same registry got all five long before the slow one could (5 × 5 s, one at a time).
    const fast = await receiver.waitFor((r) => r.path === '/fast-a', 5, 15_000);
    assert.deepEqual(fast.map(tagOf), ['t1', 't2', 't3', 't4', 't5']);
    const slowSoFar = receiver.received.filter((r) => r.path === '/slow').length;
    assert.ok(slowSoFar < 5, `the slow endpoint did not hold the fast one back (it has had ${slowSoFar} of 5)`);

    // The flaky endpoint failed 6 times, was retried, and delivered all five in push order, each once.
    const flaky = await receiver.waitFor((r) => r.path === '/flaky', 11, 15_000);
    const delivered = flaky.slice(6);
    assert.deepEqual(delivered.map(tagOf), ['t1', 't2', 't3', 't4', 't5']);
    const firstId = flaky[0]!.headers['pier-delivery'];
    assert.ok(flaky.slice(0, 7).every((r) => r.headers['pier-delivery'] === firstId), 'retries keep the delivery id');
    assert.ok(flaky.slice(0, 7).every((r) => r.body.equals(flaky[0]!.body)), 'and the body, so the event id too');
  });

  it('a delivery is dead after the maximum attempts, and can be redelivered', async () => {
    const api = `${url(withSlow)}/pier/api/v1`;
    let dead: Json | undefined;
    for (let deadline = Date.now() + 10_000; !dead && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      const list = (await (await fetch(`${api}/deliveries?endpoint=config:broken&status=dead`)).json()) as Json;
      dead = (list.deliveries as Json[]).find((d) => d.repository === 'team/app');
    }
    assert.ok(dead, 'a dead delivery for the broken endpoint');
    assert.equal(dead.attempts, 3);
    assert.equal(dead.responseCode, 500);
    assert.match(dead.lastError, /HTTP 500: broken/);
    const before = receiver.received.filter((r) => r.path === '/broken' && r.headers['pier-delivery'] === dead!.id).length;
    assert.equal(before, 3);
    receiver.answer = () => ({});
    const redeliver = await fetch(`${api}/deliveries/${dead.id}/redeliver`, { method: 'POST' });
    assert.equal(redeliver.status, 202);
    await receiver.waitFor((r) => r.path === '/broken' && r.headers['pier-delivery'] === dead!.id, 4, 5_000);
    let status = '';
    for (let deadline = Date.now() + 5_000; status !== 'delivered' && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      status = ((await (await fetch(`${api}/deliveries/${dead.id}`)).json()) as Json).status;
    }
    assert.equal(status, 'delivered');
    assert.equal((await fetch(`${api}/deliveries/${dead.id}/redeliver`, { method: 'GET' })).status, 405);
    const metrics = await (await fetch(`${url(withSlow)}/metrics`)).text();
    assert.match(metrics, /pier_event_delivery_attempts_total\{result="dead"\} [1-9]/);
    assert.match(metrics, /pier_event_delivery_attempts_total\{result="retry"\} [1-9]/);
    assert.match(metrics, /pier_event_delivery_latency_seconds_count [1-9]/);
  });

  it('two processes sharing one index deliver each event once per endpoint', async () => {
    const shared = join(scratch, 'shared');
    const settings = { events: { pulls: { enabled: false } }, endpoints: [{ name: 'once', url: `${receiver.url}/once`, ...MANIFESTS_ONLY }] };
    const first = await startPierWith(shared, settings);
    const second = await startPierWith(shared, settings);
    try {
      const pushers = [await imagePusher(url(first), 'team/shared'), await imagePusher(url(second), 'team/shared')];
      const pushed: string[] = [];
      for (let i = 0; i < 16; i++) pushed.push((await pushers[i % 2]!(`s${i}`)).digest);
      await receiver.waitFor((r) => r.path === '/once', 16, 10_000);
      await new Promise((r) => setTimeout(r, 1_000)); // time for a duplicate to show up, if one were sent
      const events = receiver.received.filter((r) => r.path === '/once').map((r) => JSON.parse(r.body.toString()).events[0]);
      assert.equal(events.length, 16, 'one delivery per event, not one per process');
      assert.deepEqual(new Set(events.map((e) => e.target.digest)), new Set(pushed));
      assert.deepEqual(events.map((e) => e.target.tag), pushed.map((_, i) => `s${i}`), 'in push order across both processes');
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('measures delivery latency and the push rate with events on and off', async () => {
    const push = await imagePusher(url(plain), 'team/latency');
    const pushes = new Map<string, { sentAt: number; ackAt: number }>();
    for (let i = 0; i < 60; i++) {
      const tag = `l${i}`;
      pushes.set(tag, await push(tag));
    }
    const arrived = await receiver.waitFor((r) => r.path === '/fast-b' && tagOf(r).startsWith('l'), 60, 15_000);
    // The receiver often has the event before the client has read the 201: the index commit comes first.
    const afterAck = arrived.map((r) => Math.max(0, r.at - pushes.get(tagOf(r))!.ackAt));
    const afterSend = arrived.map((r) => r.at - pushes.get(tagOf(r))!.sentAt);
    const early = arrived.filter((r) => r.at < pushes.get(tagOf(r))!.ackAt).length;
    console.log(
      `delivery latency (ms, 60 sequential pushes): push acknowledged → receiver p50 ${percentile(afterAck, 50)}, p99 ${percentile(afterAck, 99)} ` +
        `(${early} of 60 arrived before the client read the 201); push sent → receiver p50 ${percentile(afterSend, 50)}, p99 ${percentile(afterSend, 99)}`,
    );
    assert.ok(percentile(afterAck, 50) < 2_000);

    const rate = async (server: RunningServer, repository: string): Promise<number> => {
      const pushOne = await imagePusher(url(server), repository);
      const count = 60;
      let next = 0;
      const started = performance.now();
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (next < count) await pushOne(`r${next++}`);
      }));
      return count / ((performance.now() - started) / 1000);
    };
    // Alternating rounds, so a neighbour's load spike hits both sides alike.
    const on: number[] = [];
    const off: number[] = [];
    for (let round = 0; round < 3; round++) {
      off.push(await rate(eventsOff, `team/rate${round}`));
      on.push(await rate(plain, `team/rate${round}`));
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `manifest pushes/s (4 clients, 3 alternating rounds of 60): events off ${mean(off).toFixed(0)} [${off.map((x) => x.toFixed(0)).join(', ')}], ` +
        `events on with one endpoint ${mean(on).toFixed(0)} [${on.map((x) => x.toFixed(0)).join(', ')}] (${(((mean(off) - mean(on)) / mean(off)) * 100).toFixed(1)}% cost)`,
    );
    // A guard against a gross regression (such as a delivery on the request path), not a benchmark: the
    // machine running the tests is shared, so the figures above swing widely from run to run.
    assert.ok(mean(on) > mean(off) * 0.2, 'events on keep more than a fifth of the push rate');

    // The same cost without HTTP and storage around it: the index transaction of a manifest put, with its
    // event row and without (SQLite file, as served).
    const plainIndex = new SqliteIndex(join(scratch, 'bench-plain.db'));
    const recording = new SqliteIndex(join(scratch, 'bench-events.db'));
    const withEvents = new EventRecordingIndex(recording, { source: { addr: 'bench:0', instanceID: 'bench' }, includeReferences: false });
    const txRate = async (index: MetadataIndex, prefix: string): Promise<number> => {
      const started = performance.now();
      for (let i = 0; i < 500; i++) {
        const digest = `sha256:${createHash('sha256').update(`${prefix}${i}`).digest('hex')}`;
        await index.putManifest({ repository: 'bench/app', digest, mediaType: MediaType.ociManifest, size: 500, blobs: [], children: [], tag: `t${i}` });
      }
      return 500 / ((performance.now() - started) / 1000);
    };
    const txOff: number[] = [];
    const txOn: number[] = [];
    for (const round of ['a', 'b', 'c', 'd']) {
      txOff.push(await txRate(plainIndex, round));
      txOn.push(await txRate(withEvents, round));
    }
    await plainIndex.close();
    await recording.close();
    console.log(
      `index transactions/s for a manifest put (4 alternating rounds of 500, median): without events ${median(txOff).toFixed(0)} [${txOff.map((x) => x.toFixed(0)).join(', ')}], ` +
        `with its event row ${median(txOn).toFixed(0)} [${txOn.map((x) => x.toFixed(0)).join(', ')}] (${(((median(txOff) - median(txOn)) / median(txOff)) * 100).toFixed(1)}% cost)`,
    );
  });
});
