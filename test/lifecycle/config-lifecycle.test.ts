/** The lifecycle section of config.yml drives `pier serve` (scheduled GC, immutable tags, quotas) and `pier gc`. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPierProcess } from '../support/pier-process.ts';
import { startPier } from '../support/pier.ts';
import { pushBlob, pushImage, digestOf } from '../support/http-fixtures.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('config.yml lifecycle rules: scheduled GC runs, immutable tags and quotas are enforced, pier gc applies retention', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-lifecycle-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'config.yml');
  writeFileSync(
    configFile,
    [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      '  delete:',
      '    enabled: true',
      'lifecycle:',
      '  gc:',
      '    enabled: true',
      '    interval: 300ms',
      // long enough that the pushes below are not collected between their blobs and their manifest
      '    grace: 3s',
      '  retention:',
      '    - repository: "ret/**"',
      '      keeplast: 1',
      '  immutabletags:',
      '    - repository: "prod/**"',
      '      tag: "v*"',
      '  quotas:',
      '    - namespace: small',
      '      limit: 1KiB',
      '',
    ].join('\n'),
  );
  const pier = await startPierProcess(dataDir, ['--config', configFile]);
  try {
    // Scheduled GC: an unreferenced blob is collected within a few intervals.
    const lonely = randomBytes(100);
    await pushBlob(pier.url, 'scratch/app', lonely);
    let status = 200;
    for (let i = 0; i < 80 && status === 200; i++) {
      await sleep(250);
      status = (await fetch(`${pier.url}/v2/scratch/app/blobs/${digestOf(lonely)}`, { method: 'HEAD' })).status;
    }
    assert.equal(status, 404, 'the scheduled GC removed the unreferenced blob');
    const metrics = await (await fetch(`${pier.url}/metrics`)).text();
    assert.match(metrics, /^pier_gc_runs_total [1-9]/m);

    // Immutable tags.
    const first = await pushImage(pier.url, 'prod/app', 'v1');
    assert.ok(first.digest);
    const again = await pushImage(pier.url, 'prod/app', 'latest');
    const move = await fetch(`${pier.url}/v2/prod/app/manifests/v1`, { method: 'PUT', headers: { 'Content-Type': again.mediaType }, body: new Uint8Array(again.manifest) });
    assert.equal(move.status, 403);

    // Quotas: 1 KiB for the namespace "small".
    const big = randomBytes(2048);
    const over = await fetch(`${pier.url}/v2/small/app/blobs/uploads/?digest=${digestOf(big)}`, { method: 'POST', body: new Uint8Array(big) });
    assert.equal(over.status, 403);
  } finally {
    await pier.stop();
  }

  // pier gc --config applies retention (keep the newest tag of ret/**) before collecting.
  const server = await startPier({ dataDir });
  await pushImage(server.url, 'ret/app', 'old');
  await sleep(20);
  await pushImage(server.url, 'ret/app', 'new');
  const gc = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'gc', '--config', configFile, '--grace', '0s'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(gc.status, 0, gc.stdout + gc.stderr);
  assert.match(gc.stdout, /"tagsDeleted":1/);
  const tags = (await (await fetch(`${server.url}/v2/ret/app/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ['new']);
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
