/**
 * Repository webhooks created through the admin API: outbound safety (denied addresses refused, also by
 * name, and on a redirect; the same receiver in config.yml is delivered to), a test event, and Docker
 * Hub-style callback chains (success advances the chain, failure stops it), all recorded in the delivery log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';
import { pushImage } from '../support/http-fixtures.ts';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { eventsSettings } from '../../src/events/events-settings.ts';
import { configSchema } from '../../src/config/schema.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('webhooks through the admin API', { timeout: 60_000 }, () => {
  let local: Receiver; // on 127.0.0.1: loopback, denied for API webhooks
  let allowed: Receiver; // on 127.0.0.2: the range the operator allowed
  let pier: RunningServer;
  let base: string;
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pier-webhooks-'));
    local = await startReceiver('127.0.0.1');
    allowed = await startReceiver('127.0.0.2');
    const config = configSchema.parse({
      version: '0.1',
      notifications: {
        events: { pulls: { enabled: false } },
        endpoints: [{ name: 'operator', url: `${local.url}/config`, ignore: { mediatypes: ['application/octet-stream'] } }],
        webhooks: { allow: ['127.0.0.2/32'], maxattempts: 1 },
      },
    });
    pier = await startServer({
      dataDir: join(scratch, 'data'),
      listen: { host: '127.0.0.1', port: 0 },
      logger: createLogger('silent'),
      events: eventsSettings(config.notifications),
    });
    base = `http://127.0.0.1:${pier.port}`;
  });

  after(async () => {
    await pier?.close();
    await local?.close();
    await allowed?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
    const res = await fetch(`${base}/pier/api/v1/${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {} };
  }

  const createHook = (body: Json) => api('POST', 'webhooks', { repositories: 'team/**', ...body });

  async function waitForDelivery(filter: (d: Json) => boolean, timeoutMs = 15_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { json } = await api('GET', 'deliveries?limit=1000');
      const found = (json.deliveries as Json[]).find(filter);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such delivery in ${JSON.stringify(json.deliveries)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('refuses denied addresses, names resolving to them, and redirects to them; config.yml endpoints are used as written', async () => {
    const denied = [
      'http://169.254.169.254/latest/meta-data/',
      'http://169.254.10.1/hook',
      `http://127.0.0.1:${local.port}/hook`,
      `http://localhost:${local.port}/hook`,
      `http://[::1]:${local.port}/hook`,
      'http://[fe80::1]/hook',
      `http://[::ffff:127.0.0.1]:${local.port}/hook`,
      'http://0.0.0.0/hook',
      'file:///etc/passwd',
    ];
    for (const [i, url] of denied.entries()) {
      const { status, json } = await createHook({ name: `denied-${i}`, url });
      assert.equal(status, 400, `${url}: ${JSON.stringify(json)}`);
      assert.equal(json.errors[0].code, 'INVALID_REQUEST');
      assert.match(json.errors[0].message, /not allowed|only http/, url);
    }
    assert.deepEqual((await api('GET', 'webhooks')).json.webhooks, []);

    // Allowed at creation (127.0.0.2 is in the allow list), but the receiver redirects to loopback.
    allowed.answer = (r) => (r.path === '/redirect' ? { status: 307, location: `http://localhost:${local.port}/stolen` } : {}); // a name, checked when it resolves
    const redirecting = await createHook({ name: 'redirecting', url: `${allowed.url}/redirect`, repositories: 'team/redirect' });
    assert.equal(redirecting.status, 201, JSON.stringify(redirecting.json));
    await pushImage(base, 'team/redirect', 'v1');
    const dead = await waitForDelivery((d) => d.endpoint === `webhook:${redirecting.json.id}` && d.status === 'dead');
    assert.match(dead.lastError, /localhost resolves to (127\.0\.0\.1|::1): address \S+ is not allowed/);
    // The operator's endpoint on the very same loopback receiver gets the push.
    const [operator] = await local.waitFor((r) => r.path === '/config' && r.body.toString().includes('team/redirect'));
    assert.equal(operator!.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
    assert.equal(local.received.filter((r) => r.path === '/stolen').length, 0, 'the redirect target was never contacted');
    assert.equal(allowed.received.filter((r) => r.path === '/redirect').length, 1);
    assert.equal((await api('DELETE', `webhooks/${redirecting.json.id}`)).status, 204);
  });

  it('sends a test event on request', async () => {
    const hook = await createHook({ name: 'tester', url: `${allowed.url}/tester`, repositories: 'team/tested', format: 'cloudevents' });
    assert.equal(hook.status, 201);
    assert.equal(typeof hook.json.secret, 'string');
    assert.equal((await api('GET', `webhooks/${hook.json.id}`)).json.secret, undefined, 'the secret is shown once');
    assert.equal((await api('POST', `webhooks/${hook.json.id}/test`)).status, 202);
    const [received] = await allowed.waitFor((r) => r.path === '/tester');
    assert.equal(JSON.parse(received!.body.toString()).subject, 'team/tested:pier-test');
    assert.equal((await api('DELETE', `webhooks/${hook.json.id}`)).status, 204);
  });

  it('runs callback chains: success advances, failure stops', async () => {
    allowed.answer = () => ({});
    const ci = await createHook({ name: 'ci', url: `${allowed.url}/ci`, repositories: 'team/*' });
    assert.equal(ci.status, 201, JSON.stringify(ci.json));
    const deploy = await createHook({ name: 'deploy', url: `${allowed.url}/deploy`, repositories: 'team/*', after: ci.json.id });
    assert.equal(deploy.status, 201, JSON.stringify(deploy.json));
    assert.equal((await createHook({ name: 'ci', url: `${allowed.url}/ci` })).status, 409);

    await pushImage(base, 'team/chain', 'v1');
    const [first] = await allowed.waitFor((r) => r.path === '/ci' && JSON.parse(r.body.toString()).push_data.tag === 'v1');
    const callbackUrl = JSON.parse(first!.body.toString()).callback_url as string;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(allowed.received.filter((r) => r.path === '/deploy').length, 0, 'the next webhook waits for the callback');
    const waiting = await waitForDelivery((d) => d.endpoint === `webhook:${deploy.json.id}`);
    assert.equal(waiting.status, 'waiting');

    const forged = await fetch(callbackUrl.replace(/[0-9a-f]{40}$/, '0'.repeat(40)), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"state":"success"}' });
    assert.equal(forged.status, 404, 'a wrong token is refused');
    const ok = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ state: 'success', description: '387 tests PASSED', context: 'Continuous integration by Acme CI', target_url: 'https://ci.example/job/1' }),
    });
    assert.equal(ok.status, 200, await ok.text());
    const [next] = await allowed.waitFor((r) => r.path === '/deploy');
    assert.equal(JSON.parse(next!.body.toString()).push_data.tag, 'v1');
    const recorded = await waitForDelivery((d) => d.endpoint === `webhook:${ci.json.id}` && d.callback !== undefined);
    assert.equal(recorded.callback.state, 'success');
    assert.equal(recorded.callback.description, '387 tests PASSED');
    assert.equal(recorded.callback.targetUrl, 'https://ci.example/job/1');

    await pushImage(base, 'team/chain', 'v2');
    const [second] = await allowed.waitFor((r) => r.path === '/ci' && JSON.parse(r.body.toString()).push_data.tag === 'v2');
    const failed = await fetch(JSON.parse(second!.body.toString()).callback_url as string, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ state: 'failure', description: 'tests failed' }),
    });
    assert.equal(failed.status, 200);
    await waitForDelivery((d) => d.endpoint === `webhook:${deploy.json.id}` && d.status === 'cancelled');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(allowed.received.filter((r) => r.path === '/deploy').length, 1, 'the chain stopped after the failure');
    const bad = await fetch(JSON.parse(second!.body.toString()).callback_url as string, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"state":"maybe"}' });
    assert.equal(bad.status, 400);
  });
});
