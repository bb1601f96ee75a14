/**
 * GC under load: clients push images (fresh layers, shared base layers, overwritten and deleted tags)
 * while garbage collection runs in a loop in this process and as separate `pier gc` processes. Every push
 * that succeeded and is still tagged pulls back complete with identical digests; a push may fail only
 * cleanly (400 MANIFEST_BLOB_UNKNOWN); and afterwards storage holds no blob that no manifest references.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPier } from '../support/pier.ts';
import { buildImage, digestOf, bytes, type BuiltImage } from '../support/http-fixtures.ts';
import { openRegistry } from '../../src/main/open-registry.ts';
import { collectGarbage } from '../../src/registry/gc/collect-garbage.ts';
import { createLogger } from '../../src/observability/logger.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLIENTS = 4;
const ROUNDS = 12;
const GRACE_MS = 400;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function runGcProcess(dataDir: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gc', '--data', dataDir, '--grace', `${GRACE_MS}ms`, '--delete-untagged'], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

it('pushes racing online GC never leave a manifest pointing at missing bytes', { timeout: 180_000 }, async () => {
  const pier = await startPier({ deleteEnabled: true });
  const bases = Array.from({ length: 3 }, () => randomBytes(2048));
  const finalTags = new Map<string, BuiltImage | undefined>(); // "repo:tag" → image, or undefined when deleted
  const failures: string[] = [];
  let succeeded = 0;
  let cleanFailures = 0;
  let done = false;

  const client = async (n: number) => {
    const repo = `stress/r${n % 2}`;
    for (let round = 0; round < ROUNDS; round++) {
      const image = buildImage({ layers: [bases[round % bases.length]!, randomBytes(1024)] });
      for (const blob of image.blobs) {
        const head = await fetch(`${pier.url}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
        if (head.status === 200) continue; // already there: the racy path, no upload
        const res = await fetch(`${pier.url}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: new Uint8Array(blob.data) });
        if (res.status !== 201) failures.push(`blob push ${res.status} ${await res.text()}`);
      }
      await sleep(Math.random() * 1.3 * GRACE_MS); // sometimes longer than the grace period
      const tag = `t${(n * 7 + round) % 5}`;
      const put = await fetch(`${pier.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': image.mediaType }, body: new Uint8Array(image.manifest) });
      const text = await put.text();
      if (put.status === 201) {
        succeeded += 1;
        finalTags.set(`${repo}:${tag}`, image);
      } else if (put.status === 400 && JSON.parse(text).errors[0].code === 'MANIFEST_BLOB_UNKNOWN') {
        cleanFailures += 1;
      } else {
        failures.push(`manifest push ${put.status} ${text}`);
      }
      if (round % 4 === 3) {
        const del = await fetch(`${pier.url}/v2/${repo}/manifests/${tag}`, { method: 'DELETE' });
        if (del.status === 202) finalTags.set(`${repo}:${tag}`, undefined);
        else if (del.status !== 404) failures.push(`tag delete ${del.status}`);
      }
    }
  };

  const inProcessGc = async () => {
    const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') });
    let runs = 0;
    try {
      while (!done) {
        await collectGarbage(opened.storage, opened.index, { gracePeriodMs: GRACE_MS, deleteUntagged: true, keepReferrers: true, dryRun: false });
        runs += 1;
        await sleep(20);
      }
    } finally {
      await opened.close();
    }
    return runs;
  };

  const externalGc = async () => {
    const codes: Array<number | null> = [];
    while (!done) codes.push(await runGcProcess(pier.dataDir));
    return codes;
  };

  try {
    const gcRuns = inProcessGc();
    const gcProcesses = externalGc();
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    done = true;
    const runs = await gcRuns;
    const codes = await gcProcesses;
    assert.deepEqual(failures, [], 'no push failed other than cleanly');
    assert.ok(runs >= 3, `the in-process GC ran ${runs} times`);
    assert.ok(codes.length >= 1 && codes.every((c) => c === 0), `pier gc processes exited ${codes.join(',')}`);
    assert.ok(succeeded >= 6, `${succeeded} pushes succeeded, ${cleanFailures} failed cleanly`);

    for (const [key, image] of finalTags) {
      const [repo, tag] = key.split(':') as [string, string];
      const res = await fetch(`${pier.url}/v2/${repo}/manifests/${tag}`);
      if (image === undefined) {
        assert.equal(res.status, 404, `${key} was deleted`);
        continue;
      }
      assert.equal(res.status, 200, key);
      assert.equal(digestOf(await bytes(res)), image.digest, key);
      for (const blob of image.blobs) {
        const b = await fetch(`${pier.url}/v2/${repo}/blobs/${blob.digest}`);
        assert.equal(b.status, 200, `${key} blob ${blob.digest}`);
        assert.equal(digestOf(await bytes(b)), blob.digest);
      }
    }

    // One last collection past every grace period: then each blob left is referenced by a manifest.
    const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') });
    try {
      await collectGarbage(opened.storage, opened.index, { gracePeriodMs: 0, deleteUntagged: true, keepReferrers: true, dryRun: false, now: new Date(Date.now() + 5_000) });
      const referenced = new Set<string>();
      for (const [key, image] of finalTags) {
        if (!image) continue;
        referenced.add(image.digest);
        for (const blob of image.blobs) referenced.add(blob.digest);
        assert.ok(key);
      }
      for await (const blob of opened.storage.listBlobs()) {
        assert.ok(referenced.has(blob.digest.value), `blob ${blob.digest.value} is referenced by no tagged manifest`);
      }
    } finally {
      await opened.close();
    }
  } finally {
    done = true;
    await pier.close();
  }
});
