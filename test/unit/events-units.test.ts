/**
 * Events logic without a network: pull sampling on a real in-memory registry, repository patterns, chains at
 * fan-out, the outbound address policy, signatures and the Docker Hub payload's names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { MemoryDriver } from '../../src/storage/memory/memory-driver.ts';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { Registry } from '../../src/registry/registry.ts';
import { DEFAULT_REGISTRY_OPTIONS } from '../../src/registry/context.ts';
import { parseReference } from '../../src/registry/model/reference.ts';
import { digestOf } from '../../src/registry/model/digest.ts';
import { EventRecordingIndex } from '../../src/events/recording-index.ts';
import { PullEventRecorder } from '../../src/events/pull-events.ts';
import { repositoryPattern, webhookEndpoint, configEndpoint } from '../../src/events/delivery/endpoints.ts';
import { Dispatcher, plan } from '../../src/events/delivery/dispatcher.ts';
import { OutboundPolicy } from '../../src/events/delivery/outbound-policy.ts';
import { signature, verifySignature } from '../../src/events/delivery/signing.ts';
import { hubPayload, renderPayload } from '../../src/events/delivery/formats.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { StoredEvent, WebhookRecord } from '../../src/events/event-log.ts';
import { loadConfig } from '../../src/config/load.ts';
import { eventsSettings } from '../../src/events/events-settings.ts';

const source = { addr: 'unit:0', instanceID: 'unit' };

async function registryWithImage(recorder?: (index: SqliteIndex) => PullEventRecorder): Promise<{ registry: Registry; index: SqliteIndex; pulls?: PullEventRecorder }> {
  const index = new SqliteIndex(':memory:');
  const pulls = recorder?.(index);
  const registry = new Registry(
    {
      storage: new DriverRegistryStorage(new MemoryDriver()),
      index: new EventRecordingIndex(index, { source, includeReferences: false }),
      clock: { now: () => new Date() },
      options: DEFAULT_REGISTRY_OPTIONS,
    },
    pulls?.decorators() ?? {},
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }));
  await registry.manifests.put('team/app', parseReference('v1'), manifest, 'application/vnd.oci.image.index.v1+json');
  return { registry, index, ...(pulls ? { pulls } : {}) };
}

describe('events units', () => {
  it('samples pull events, and switches them off at rate 0', async () => {
    for (const [rate, expected] of [[1, 10], [0.5, 5], [0, 0]] as const) {
      let draw = 0;
      const { registry, index, pulls } = await registryWithImage(
        (ix) => new PullEventRecorder(ix, { sampleRate: rate, source, logger: createLogger('silent'), random: () => (draw++ % 2) / 2 }),
      );
      for (let i = 0; i < 10; i++) await registry.manifests.get('team/app', parseReference('v1'));
      await pulls!.flush();
      const events = await index.eventLog.eventsAfter(0, 100);
      assert.equal(events.filter((e) => e.type === 'image.pulled').length, expected, `rate ${rate}`);
      assert.equal(events.filter((e) => e.type === 'image.pushed').length, 1, 'the push was recorded with its write');
      await index.close();
    }
  });

  it('matches repository patterns', () => {
    assert.ok(repositoryPattern('team/*').test('team/app'));
    assert.ok(!repositoryPattern('team/*').test('team/app/sub'));
    assert.ok(repositoryPattern('team/**').test('team/app/sub'));
    assert.ok(!repositoryPattern('team/app').test('team/apps'));
    assert.ok(!repositoryPattern('team.x/*').test('teamyx/app'), 'dots are literal');
    assert.ok(repositoryPattern('**').test('anything/at/all'));
  });

  it('plans chained deliveries behind their predecessor, and filters by endpoint', () => {
    const hook = (name: string, extra: Partial<WebhookRecord> = {}): WebhookRecord => ({ id: randomUUID(), name, url: 'https://x.example/', format: 'hub', repositories: 'team/*', eventTypes: [], secret: 's', createdAt: new Date(), ...extra });
    const ci = hook('ci');
    const deploy = hook('deploy', { after: ci.id });
    const notify = hook('notify', { after: deploy.id });
    const other = hook('other', { repositories: 'other/*' });
    const event: StoredEvent = { seq: 7, id: 'e', type: 'image.pushed', repository: 'team/app', occurredAt: new Date(), payload: { action: 'push', target: { repository: 'team/app', mediaType: 'application/vnd.oci.image.manifest.v1+json' } } };
    const endpoints = [notify, deploy, ci, other].map((w) => webhookEndpoint(w));
    const planned = plan(event, endpoints);
    const by = (w: WebhookRecord) => planned.find((d) => d.endpoint === `webhook:${w.id}`);
    assert.equal(planned.length, 3);
    assert.equal(by(ci)?.status, 'pending');
    assert.equal(by(deploy)?.waitsFor, by(ci)?.id);
    assert.equal(by(notify)?.waitsFor, by(deploy)?.id);
    assert.equal(by(other), undefined);
    const pull: StoredEvent = { ...event, type: 'image.pulled', payload: { action: 'pull', target: { repository: 'team/app', mediaType: 'application/octet-stream' } } };
    assert.deepEqual(plan(pull, endpoints), [], 'webhooks get image pushes by default');
    const config = configEndpoint({ name: 'c', url: 'http://x/', disabled: false, headers: {}, ignore: { actions: ['pull'] } });
    assert.equal(config.accepts(pull), false);
    assert.equal(config.accepts(event), true);
    const custom: StoredEvent = { ...event, type: 'build.succeeded', payload: { type: 'build.succeeded', data: {} } };
    assert.equal(config.accepts(custom), false, 'the reference envelope carries registry events only');
    assert.equal(configEndpoint({ name: 'ce', url: 'http://x/', disabled: false, headers: {}, ignore: {}, format: 'cloudevents' }).accepts(custom), true);
  });

  it('refuses loopback, link-local, metadata and denied ranges unless allowed', () => {
    const policy = new OutboundPolicy({ allow: ['127.0.0.2'], deny: ['10.0.0.0/8'] });
    for (const address of ['127.0.0.1', '169.254.169.254', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:127.0.0.1', '0.0.0.0', '10.1.2.3', '100.100.100.200']) {
      assert.ok(policy.refusal(address), address);
    }
    for (const address of ['127.0.0.2', '192.0.2.10', '2001:db8::1']) assert.equal(policy.refusal(address), undefined, address);
    assert.throws(() => policy.checkUrl(new URL('ftp://192.0.2.1/')), /only http and https/);
    assert.throws(() => new OutboundPolicy({ allow: ['not-a-range'] }), /not an address/);
  });

  it('signs timestamp and body', () => {
    const body = Buffer.from('{"events":[]}');
    const sig = signature('k', 1_700_000_000, body);
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.ok(verifySignature('k', 1_700_000_000, body, sig));
    assert.ok(!verifySignature('k', 1_700_000_001, body, sig));
    assert.ok(!verifySignature('k', 1_700_000_000, Buffer.from('{"events":[1]}'), sig));
  });

  it('lists references when asked, and sends the 3.x envelope media type when configured', async () => {
    const index = new SqliteIndex(':memory:');
    const recording = new EventRecordingIndex(index, { source, includeReferences: true });
    const blob = digestOf(Buffer.from('layer'), 'sha256').value;
    await recording.addBlob('team/app', blob, 5);
    const manifest = digestOf(Buffer.from('m'), 'sha256').value;
    await recording.putManifest({ repository: 'team/app', digest: manifest, mediaType: 'application/vnd.oci.image.manifest.v1+json' as never, size: 1, blobs: [blob], children: [], tag: 'v1' });
    const [blobEvent, manifestEvent] = await index.eventLog.eventsAfter(0, 10);
    assert.equal(blobEvent!.type, 'blob.pushed');
    assert.deepEqual((manifestEvent!.payload as { target: { references: unknown } }).target.references, [{ digest: blob }]);
    const v2 = configEndpoint({ name: 'r', url: 'http://x/', disabled: false, headers: {}, ignore: {}, envelope: 'v2' });
    const rendered = renderPayload(v2, manifestEvent!, undefined);
    assert.equal(rendered.contentType, 'application/vnd.docker.distribution.events.v2+json');
    assert.deepEqual(JSON.parse(rendered.body.toString()).events[0], manifestEvent!.payload);
    await index.close();
  });

  it('reads the notifications section: reference keys, Pier-only keys, and refuses bad ranges and URLs', () => {
    const good = loadConfig({
      env: {},
      text: [
        'version: 0.1',
        'storage: { filesystem: { rootdirectory: /tmp/pier-unit } }',
        'notifications:',
        '  events: { includereferences: true, pulls: { samplerate: "0.25" } }',
        '  endpoints:',
        '    - { name: a, url: "http://ci.internal/hook", timeout: 2s, backoff: 250ms, ignore: { actions: [pull] }, format: cloudevents, secret: s, maxattempts: "3" }',
        '    - { name: b, url: "http://off.internal/", disabled: true }',
        '  webhooks: { allow: [10.0.0.0/8], timeout: 3s }',
        '  deliverylog: { maxage: 24h }',
      ].join('\n'),
    });
    assert.deepEqual(good.problems, []);
    const settings = eventsSettings(good.config!.notifications);
    assert.equal(settings.pullSampleRate, 0.25);
    assert.equal(settings.includeReferences, true);
    assert.deepEqual(settings.endpoints.map((e) => [e.name, e.timeout, e.backoff, e.format, e.maxattempts]), [['a', 2000, 250, 'cloudevents', 3]]);
    assert.deepEqual([settings.webhooks.allow, settings.webhooks.timeoutMs, settings.retentionMs], [['10.0.0.0/8'], 3000, 86_400_000]);
    const bad = loadConfig({
      env: {},
      text: ['version: 0.1', 'storage: { filesystem: { rootdirectory: /tmp/pier-unit } }', 'notifications:', '  callbackbaseurl: "ftp://x"', '  webhooks: { deny: [nonsense] }', '  endpoints: [{ name: a, url: "file:///etc" }]'].join('\n'),
    });
    assert.deepEqual(bad.problems.map((p) => p.key).sort(), ['notifications.callbackbaseurl', 'notifications.endpoints[0].url', 'notifications.webhooks.deny[0]']);
  });

  it('names a single-component repository library/ in the Hub payload', () => {
    const digest = digestOf(Buffer.from('x'), 'sha256').value;
    const event: StoredEvent = { seq: 1, id: 'e', type: 'image.pushed', repository: 'app', occurredAt: new Date(1_700_000_000_000), payload: { action: 'push', target: { repository: 'app', digest, tag: 'v1' }, request: { host: 'r.example' }, actor: { name: 'alice' }, source } };
    const payload = hubPayload(event, 'https://r.example/cb') as { push_data: Record<string, unknown>; repository: Record<string, unknown> };
    assert.deepEqual([payload.repository.namespace, payload.repository.name, payload.repository.repo_name], ['library', 'app', 'app']);
    assert.deepEqual([payload.push_data.pusher, payload.push_data.tag, payload.push_data.pushed_at], ['alice', 'v1', 1_700_000_000]);
  });

  it('records pulls only while a configured endpoint or a known webhook takes them', async () => {
    const hook = (extra: Partial<WebhookRecord> = {}): WebhookRecord => ({ id: randomUUID(), name: 'h', url: 'https://x.example/', format: 'reference', repositories: '**', eventTypes: [], secret: 's', createdAt: new Date(), ...extra });
    const config = { name: 'c', url: 'https://x.example/', headers: {}, ignore: {} } as Parameters<typeof configEndpoint>[0];
    assert.equal(configEndpoint(config).takesPulls, true, 'a config.yml endpoint gets pulls, as from the reference');
    assert.equal(configEndpoint({ ...config, ignore: { actions: ['pull'] } }).takesPulls, false);
    assert.equal(webhookEndpoint(hook()).takesPulls, false, 'a webhook gets pushes unless it asks for more');
    assert.equal(webhookEndpoint(hook({ eventTypes: ['image.pulled'] })).takesPulls, true);
    assert.equal(webhookEndpoint(hook({ eventTypes: ['*'], format: 'hub' })).takesPulls, false, 'the Docker Hub format carries pushes only');

    let dispatcher: Dispatcher | undefined;
    const { registry, index, pulls } = await registryWithImage(
      (ix) => new PullEventRecorder(ix, { sampleRate: 1, source, logger: createLogger('silent'), wanted: () => dispatcher?.receivesPulls() ?? true }),
    );
    dispatcher = new Dispatcher({ eventLog: index.eventLog, configEndpoints: [], policy: new OutboundPolicy({ allow: [], deny: [] }), logger: createLogger('silent') });
    const pulled = async () => {
      await registry.manifests.get('team/app', parseReference('v1'));
      await pulls!.flush();
      return (await index.eventLog.eventsAfter(0, 100)).filter((e) => e.type === 'image.pulled').length;
    };
    assert.equal(await pulled(), 1, 'recorded while the webhook list is not read yet');
    await dispatcher.tick();
    assert.equal(await pulled(), 1, 'no receiver: not recorded');
    assert.ok(await index.eventLog.createWebhook(hook()));
    dispatcher.refreshWebhooks();
    await dispatcher.tick();
    assert.equal(await pulled(), 1, 'a pushes-only webhook does not want pulls');
    assert.ok(await index.eventLog.createWebhook(hook({ name: 'pulls', eventTypes: ['image.pulled'] })));
    dispatcher.refreshWebhooks();
    await dispatcher.tick();
    assert.equal(await pulled(), 2, 'a webhook that takes pulls gets them recorded again');
    await index.close();
  });
});
