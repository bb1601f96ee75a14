/**
 * Two Pier servers sharing one data directory (as `pier serve` workers or replicas do): a webhook created
 * through one of them gets a push made to the other right after the creation was acknowledged. (Each server's
 * dispatcher caches the webhook list for a second; the fan-out reads it afresh for new events.)
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

describe('webhooks across processes sharing an index', { timeout: 60_000 }, () => {
  let receiver: Receiver;
  const servers: RunningServer[] = [];
  let scratch: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pier-webhook-procs-'));
    receiver = await startReceiver('127.0.0.2');
    const config = configSchema.parse({ version: '0.1', notifications: { webhooks: { allow: ['127.0.0.2/32'], maxattempts: 1 } } });
    for (let i = 0; i < 2; i++) {
      servers.push(await startServer({ dataDir: join(scratch, 'data'), listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('silent'), events: eventsSettings(config.notifications) }));
    }
  });

  after(async () => {
    for (const s of servers) await s.close();
    await receiver?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('delivers a push made through one server to a webhook just created through the other', async () => {
    const [a, b] = servers.map((s) => `http://127.0.0.1:${s.port}`) as [string, string];
    // Let both dispatchers cache the (empty) webhook list first.
    await new Promise((r) => setTimeout(r, 600));
    for (let round = 0; round < 4; round++) {
      const created = await fetch(`${a}/pier/api/v1/webhooks`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: `hook-${round}`, url: `${receiver.url}/r${round}`, repositories: `team/r${round}`, format: 'reference' }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      await pushImage(b, `team/r${round}`, 'v1');
      const [request] = await receiver.waitFor((r) => r.path === `/r${round}`, 1, 10_000);
      assert.match(request!.body.toString(), new RegExp(`team/r${round}`));
    }
  });
});
