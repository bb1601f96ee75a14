/**
 * A full disk: writes get 507 with the spec's JSON error body saying storage is full, the error log names
 * the file system, a metric counts it, reads go on, and once the failed upload is cleaned up the next push
 * works. The data directory sits on a small tmpfs mounted for this test (needs root) and unmounted after.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { memoryLogger, startFromConfig, type InProcessPier } from '../auth/fixtures.ts';
import { asBody, digestOf, pushImage, type BuiltImage } from '../support/http-fixtures.ts';
import { requireTools } from '../support/tools.ts';

describe('a full disk', { timeout: 60_000 }, () => {
  let mountPoint: string;
  let mounted = false;
  let pier: InProcessPier | undefined;
  let log: ReturnType<typeof memoryLogger>;

  before(async () => {
    requireTools('mount', 'umount');
    assert.equal(process.getuid?.(), 0, 'this test mounts a tmpfs and must run as root');
    mountPoint = mkdtempSync(join(tmpdir(), 'pier-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'pier-full-test', mountPoint]);
    mounted = true;
    log = memoryLogger('info');
    const yaml = ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /unused', ''].join('\n');
    pier = await startFromConfig(yaml, { logger: log.logger, dataDir: join(mountPoint, 'data') });
  });

  after(async () => {
    await pier?.close();
    if (mounted) execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('answers 507 "storage is full" to writes, logs the file system, counts it, and keeps serving reads', async () => {
    const url = pier!.url;
    const small: BuiltImage = await pushImage(url, 'full/app', 'v1');
    const big = randomBytes(8 * 1024 * 1024);
    const res = await fetch(`${url}/v2/full/app/blobs/uploads/?digest=${digestOf(big)}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: asBody(big) });
    assert.equal(res.status, 507);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    assert.match(body.errors[0]!.message, /storage is full/);
    assert.doesNotMatch(body.errors[0]!.message, new RegExp(mountPoint), 'no paths for the client');

    const line = log.text().split('\n').find((l) => l.includes('"status":507'));
    assert.ok(line, 'an error-level line for the refused write');
    const entry = JSON.parse(line!) as { level: number; storage: string };
    assert.equal(entry.level, 50);
    assert.match(entry.storage, new RegExp(`tmpfs file system mounted at ${mountPoint}`));
    assert.match(await (await fetch(`${url}/metrics`)).text(), /^pier_storage_full_total 1$/m);

    const manifest = await fetch(`${url}/v2/full/app/manifests/v1`, { headers: { Accept: small.mediaType } });
    assert.equal(manifest.status, 200, 'reads go on');
    assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), small.manifest);
    const blob = await fetch(`${url}/v2/full/app/blobs/${small.blobs[1]!.digest}`);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), small.blobs[1]!.data);

    await pushImage(url, 'full/app', 'v2'); // the failed upload's bytes were released
  });
});
