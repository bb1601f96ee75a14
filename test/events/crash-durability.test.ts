/**
 * Events survive a crash: Pier is killed with SIGKILL right after acknowledging pushes while the receiver
 * is down; after a restart, once the receiver is up, the event of every acknowledged push arrives (at least
 * once, with stable ids).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';
import { pushImage } from '../support/http-fixtures.ts';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { run } from '../support/client-env.ts';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const pierCli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, ...args]);

describe('events across a crash', { timeout: 90_000 }, () => {
  let receiver: Receiver;
  let scratch: string;
  let pier: PierProcess | undefined;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'pier-events-crash-'));
    receiver = await startReceiver();
    await receiver.down();
  });

  after(async () => {
    await pier?.kill();
    await receiver?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('delivers the event of every acknowledged push after SIGKILL and restart', async () => {
    const configFile = join(scratch, 'config.yml');
    await writeFile(
      configFile,
      [
        'version: 0.1',
        'notifications:',
        '  webhooks:',
        '    allow: [127.0.0.2/32]',
        '  events:',
        '    pulls:',
        '      enabled: false',
        '  endpoints:',
        '    - name: ci',
        `      url: http://127.0.0.1:${receiver.port}/crash`,
        '      timeout: 1s',
        '      backoff: 200ms',
        '      maxbackoff: 1s',
        '      ignore:',
        '        mediatypes: [application/octet-stream]',
        '',
      ].join('\n'),
    );
    const dataDir = join(scratch, 'data');
    pier = await startPierProcess(dataDir, ['--config', configFile]);
    const acknowledged: string[] = [];
    for (let i = 0; i < 8; i++) acknowledged.push((await pushImage(pier.url, 'team/crash', `v${i}`)).digest);
    await pier.kill(); // right after the last 201, with the receiver down: nothing was delivered
    pier = undefined;
    assert.equal(receiver.received.length, 0);

    pier = await startPierProcess(dataDir, ['--config', configFile]);
    await receiver.up();
    const started = Date.now();
    const arrived = await receiver.waitFor(
      (r) => r.path === '/crash',
      acknowledged.length,
      30_000,
    );
    const waitedMs = Date.now() - started;
    const events = arrived.flatMap((r) => JSON.parse(r.body.toString()).events as Array<{ id: string; target: { digest: string; tag: string } }>);
    const digests = new Set(events.map((e) => e.target.digest));
    for (const digest of acknowledged) assert.ok(digests.has(digest), `the push of ${digest} was acknowledged; its event must arrive`);
    assert.deepEqual(events.map((e) => e.target.tag).slice(0, 8), acknowledged.map((_, i) => `v${i}`), 'in push order');

    // The delivery log and webhooks from the command line, on the same data directory.
    const log = JSON.parse((await pierCli('deliveries', 'list', '--config', configFile, '--data', dataDir, '--endpoint', 'config:ci', '--json')).stdout);
    const delivered = (log.deliveries as Array<{ status: string; attempts: number }>).filter((d) => d.status === 'delivered');
    assert.equal(delivered.length, acknowledged.length, JSON.stringify(log));
    await assert.rejects(pierCli('webhook', 'create', '--config', configFile, '--data', dataDir, '--name', 'bad', '--url', `http://127.0.0.1:${receiver.port}/x`, '--repositories', 'team/*'), /127\.0\.0\.1 is not allowed/);
    const created = await pierCli('webhook', 'create', '--config', configFile, '--data', dataDir, '--name', 'ci', '--url', 'http://127.0.0.2:9/hook', '--repositories', 'team/*', '--json');
    const hook = JSON.parse(created.stdout) as { id: string; secret: string; format: string };
    assert.equal(hook.format, 'hub');
    assert.ok(hook.secret.length >= 32);
    const listed = await pierCli('webhook', 'list', '--config', configFile, '--data', dataDir);
    assert.match(listed.stdout, new RegExp(`${hook.id}\tci\thub\tteam/\*`));
    assert.doesNotMatch(listed.stdout, new RegExp(hook.secret));

    console.log(`crash test: ${acknowledged.length} acknowledged pushes, SIGKILL with the receiver down; after restart all ${digests.size} events arrived within ${waitedMs} ms of the receiver coming up (${arrived.length} requests)`);
  });
});
