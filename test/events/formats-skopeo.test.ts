/**
 * A `skopeo copy` into Pier reaches a local receiver in all three formats (the reference envelope, Docker
 * Hub's payload, CloudEvents 1.0) with signatures that verify; and the reference envelope matches, field
 * by field, what Debian's `docker-registry` (CNCF Distribution 2.8) sends for the same push — and for the
 * same pull, cross-repository mount, manifest delete and blob delete.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { startReceiver, type Receiver, type ReceivedRequest } from '../support/webhook-receiver.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { writeOciLayout, type HandMadeImage } from '../support/tiny-oci-layout.ts';
import { requireTools } from '../support/tools.ts';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { eventsSettings } from '../../src/events/events-settings.ts';
import { configSchema } from '../../src/config/schema.ts';
import { verifySignature } from '../../src/events/delivery/signing.ts';

const SECRET = 'a-shared-secret-for-the-test';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

type Json = Record<string, unknown>;
const eventsOf = (r: ReceivedRequest): Json[] => (JSON.parse(r.body.toString('utf8')) as { events: Json[] }).events;

describe('event formats for a skopeo push', { timeout: 120_000 }, () => {
  let env: ClientEnv;
  let receiver: Receiver;
  let reference: RunningReference;
  let pier: RunningServer;
  let image: HandMadeImage;
  let scratch: string;

  before(async () => {
    requireTools('skopeo', 'docker-registry');
    env = await createClientEnv('pier-events-formats');
    scratch = await mkdtemp(join(tmpdir(), 'pier-events-formats-'));
    receiver = await startReceiver();
    image = await writeOciLayout(join(scratch, 'layout'), 'formats');
    reference = await startReferenceRegistry({
      dataDir: join(scratch, 'reference'),
      extraConfig: [
        'notifications:',
        '  endpoints:',
        '    - name: capture',
        `      url: ${receiver.url}/reference-registry`,
        '      headers:',
        '        X-Team: [platform]',
        '      timeout: 2s',
        '      backoff: 1s',
      ],
    });
    const config = configSchema.parse({
      version: '0.1',
      notifications: {
        endpoints: [
          { name: 'reference', url: `${receiver.url}/pier-reference`, headers: { 'X-Team': ['platform'] }, timeout: '2s', backoff: '1s' },
          { name: 'hub', url: `${receiver.url}/pier-hub`, format: 'hub', secret: SECRET },
          { name: 'cloudevents', url: `${receiver.url}/pier-cloudevents`, format: 'cloudevents', secret: SECRET, ignore: { actions: ['pull'] } },
        ],
      },
    });
    pier = await startServer({
      dataDir: join(scratch, 'pier'),
      listen: { host: '127.0.0.1', port: 0 },
      logger: createLogger('silent'),
      registry: { deleteEnabled: true },
      events: eventsSettings(config.notifications),
    });
    for (const host of [reference.host, `127.0.0.1:${pier.port}`]) {
      await env.skopeo(['copy', '--dest-tls-verify=false', `oci:${image.dir}:v1`, `docker://${host}/team/app:v1`]);
    }
  });

  /** The same client steps against both registries, in the same order. */
  async function onBoth(step: (host: string) => Promise<unknown>): Promise<void> {
    for (const host of [reference.host, `127.0.0.1:${pier.port}`]) await step(host);
  }

  /** Events of both registries, matched by action, repository, digest and tag, compared field by field. */
  async function compareEvents(select: (e: Json) => boolean, expectedCount: number): Promise<Json[]> {
    const refEvents = async (): Promise<Json[]> => receiver.received.filter((r) => r.path === '/reference-registry').flatMap(eventsOf).filter(select);
    const pierEvents = async (): Promise<Json[]> => receiver.received.filter((r) => r.path === '/pier-reference').flatMap(eventsOf).filter(select);
    await receiver.waitFor((r) => r.path === '/reference-registry' && eventsOf(r).some(select), expectedCount);
    await receiver.waitFor((r) => r.path === '/pier-reference' && eventsOf(r).some(select), expectedCount);
    const expected = await refEvents();
    const actual = await pierEvents();
    assert.equal(expected.length, expectedCount, `the reference sent ${JSON.stringify(expected)}`);
    assert.equal(actual.length, expectedCount, `Pier sent ${JSON.stringify(actual)}`);
    const key = (e: Json): string => {
      const t = e.target as Json;
      return `${String(e.action)} ${String(t.repository)} ${String(t.digest)} ${String(t.tag)}`;
    };
    for (const ref of expected) {
      const mine = actual.find((e) => key(e) === key(ref));
      assert.ok(mine, `Pier sent no event like ${key(ref)}; it sent ${actual.map(key).join(' | ')}`);
      assert.deepEqual(normalise(mine, `127.0.0.1:${pier.port}`), normalise(ref, reference.host), key(ref));
      assert.deepEqual(Object.keys(mine), Object.keys(ref), 'same field order');
      assert.deepEqual(Object.keys(mine.target as Json), Object.keys(ref.target as Json), 'same target field order');
    }
    return actual;
  }

  after(async () => {
    await pier?.close();
    await reference?.close();
    await receiver?.close();
    await env?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const manifestPush = (r: ReceivedRequest): boolean => eventsOf(r).some((e) => e.action === 'push' && (e.target as Json).tag === 'v1');

  it('sends the reference envelope as docker-registry does, field by field', async () => {
    const [fromReference] = await receiver.waitFor((r) => r.path === '/reference-registry' && manifestPush(r));
    const [fromPier] = await receiver.waitFor((r) => r.path === '/pier-reference' && manifestPush(r));
    for (const r of [fromReference!, fromPier!]) {
      assert.equal(r.method, 'POST');
      assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      assert.equal(r.headers['x-team'], 'platform');
    }
    // Every push the reference reported (both blobs, then the manifest), Pier reported too, in the same shape.
    const refEvents = receiver.received.filter((r) => r.path === '/reference-registry').flatMap(eventsOf);
    const pierEvents = receiver.received.filter((r) => r.path === '/pier-reference').flatMap(eventsOf);
    assert.equal(refEvents.length, 3, JSON.stringify(refEvents));
    for (const expected of refEvents) {
      const digest = (expected.target as Json).digest;
      const actual = pierEvents.find((e) => e.action === expected.action && (e.target as Json).digest === digest);
      assert.ok(actual, `Pier sent no ${String(expected.action)} event for ${String(digest)}`);
      assert.deepEqual(normalise(actual, `127.0.0.1:${pier.port}`), normalise(expected, reference.host), `event for ${String(digest)}`);
      console.log(`reference event, field by field: ${JSON.stringify(normalise(actual, `127.0.0.1:${pier.port}`))}`);
    }
    assert.deepEqual(Object.keys(pierEvents[0]!), Object.keys(refEvents[0]!), 'same field order');
  });

  it('reports pulls, mounts and deletes as docker-registry does', async () => {
    // A pull: the manifest by tag, then both blobs (HEAD requests emit nothing).
    await onBoth((host) => env.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/team/app:v1`, `oci:${join(scratch, `pulled-${host.replace(/\W/g, '-')}`)}:v1`]));
    const pulls = await compareEvents((e) => e.action === 'pull', 3);
    assert.equal((pulls.find((e) => (e.target as Json).digest === image.manifestDigest)!.target as Json).tag, 'v1', 'a pull by tag names the tag');
    // A cross-repository mount, as a client asks for it.
    await onBoth(async (host) => {
      const res = await fetch(`http://${host}/v2/team/other/blobs/uploads/?mount=${image.blobs[1]!.digest}&from=team/app`, { method: 'POST' });
      await res.arrayBuffer();
      assert.equal(res.status, 201);
    });
    await compareEvents((e) => e.action === 'mount', 1);
    // Deleting the manifest by digest: one event for the manifest, one for its tag.
    await onBoth(async (host) => {
      const res = await fetch(`http://${host}/v2/team/app/manifests/${image.manifestDigest}`, { method: 'DELETE' });
      await res.arrayBuffer();
      assert.equal(res.status, 202);
    });
    await compareEvents((e) => e.action === 'delete', 2);
    // Deleting a blob from a repository.
    await onBoth(async (host) => {
      const res = await fetch(`http://${host}/v2/team/other/blobs/${image.blobs[1]!.digest}`, { method: 'DELETE' });
      await res.arrayBuffer();
      assert.equal(res.status, 202);
    });
    await compareEvents((e) => e.action === 'delete' && (e.target as Json).repository === 'team/other', 1);
  });

  it('sends Docker Hub payloads and CloudEvents, signed over timestamp and body', async () => {
    const [hub] = await receiver.waitFor((r) => r.path === '/pier-hub');
    const [cloud] = await receiver.waitFor((r) => r.path === '/pier-cloudevents' && r.headers['pier-event'] === 'image.pushed');
    for (const r of [hub!, cloud!]) {
      const timestamp = Number(r.headers['pier-timestamp']);
      assert.ok(Math.abs(Date.now() / 1000 - timestamp) < 120, 'a fresh timestamp');
      assert.ok(verifySignature(SECRET, timestamp, r.body, String(r.headers['pier-signature'])), 'the signature verifies');
      assert.equal(verifySignature('another secret', timestamp, r.body, String(r.headers['pier-signature'])), false);
      assert.equal(verifySignature(SECRET, timestamp + 1, r.body, String(r.headers['pier-signature'])), false, 'the timestamp is signed');
      assert.match(String(r.headers['pier-delivery']), UUID);
      assert.equal(r.headers['pier-event'], 'image.pushed');
    }
    assert.equal(receiver.received.filter((r) => r.path === '/pier-hub').length, 1, 'Hub webhooks get image pushes only');
    assert.equal(hub!.headers['content-type'], 'application/json');
    const payload = JSON.parse(hub!.body.toString('utf8')) as Json;
    assert.match(String(payload.callback_url), new RegExp(`^http://127\\.0\\.0\\.1:${pier.port}/pier/api/v1/callbacks/[0-9a-f-]{36}/[0-9a-f]{40}$`));
    const push = payload.push_data as Json;
    assert.equal(push.tag, 'v1');
    assert.equal(push.pusher, '');
    assert.ok(Math.abs(Number(push.pushed_at) - Date.now() / 1000) < 120);
    const repo = payload.repository as Json;
    assert.deepEqual([repo.name, repo.namespace, repo.repo_name, repo.status], ['app', 'team', 'team/app', 'Active']);
    assert.equal(repo.repo_url, `http://127.0.0.1:${pier.port}/v2/team/app/`);

    assert.equal(cloud!.headers['content-type'], 'application/cloudevents+json');
    const ce = JSON.parse(cloud!.body.toString('utf8')) as Json;
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.type, 'dev.pier.image.pushed');
    assert.equal(ce.subject, 'team/app:v1');
    assert.match(String(ce.id), UUID);
    assert.match(String(ce.source), /^\/pier\/[0-9a-f-]{36}$/);
    assert.match(String(ce.time), TIMESTAMP);
    assert.equal(((ce.data as Json).target as Json).digest, image.manifestDigest);
    const blobTypes = receiver.received.filter((r) => r.path === '/pier-cloudevents').map((r) => r.headers['pier-event']);
    // Everything but pulls (this endpoint ignores them): the push, the mount and the deletes of the test before.
    assert.deepEqual(blobTypes.sort(), ['blob.deleted', 'blob.mounted', 'blob.pushed', 'blob.pushed', 'image.deleted', 'image.pushed', 'tag.deleted']);
  });
});

/** Replaces what differs by nature between two registries (ids, times, ports, instance) with its shape. */
function normalise(event: Json, host: string): Json {
  const target = { ...(event.target as Json) };
  if (typeof target.url === 'string') target.url = target.url.replace(`http://${host}/`, 'http://HOST/');
  const request = { ...(event.request as Json) };
  assert.match(String(request.id), /^[0-9a-f-]{36}$/);
  assert.match(String(request.addr), /^127\.0\.0\.1:\d+$/);
  assert.equal(request.host, host);
  const source = event.source as Json;
  assert.match(String(source.instanceID), UUID);
  assert.match(String(source.addr), /^[^:]+:\d+$/);
  assert.match(String(event.id), UUID);
  assert.match(String(event.timestamp), TIMESTAMP);
  return {
    ...event,
    id: 'ID',
    timestamp: 'TIME',
    target,
    request: { ...request, id: 'REQUEST', addr: 'ADDR', host: 'HOST', useragent: request.useragent },
    source: { addr: 'HOST:PORT', instanceID: 'INSTANCE' },
  };
}
