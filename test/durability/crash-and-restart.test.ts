/**
 * Every write path, killed with SIGKILL right after (or during) the write: what was acknowledged is there
 * after a restart, what was not is invisible, and an upload goes on across processes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startPierProcess as startPier } from '../support/pier-process.ts';

// Every server here is a pool of two workers (what `pier serve` runs by default on a multi-core machine);
// kill() sends SIGKILL to the supervisor and its workers at once.
const startPierProcess = (dataDir: string) => startPier(dataDir, ['--workers', '2']);

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushBlob(url: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: new Uint8Array(data) });
  assert.equal(res.status, 201);
  return digest;
}

function imageManifest(config: { digest: string; size: number }, layer: { digest: string; size: number }): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
}

describe('crash safety (kill -9) and multi-process uploads', () => {
  let dataDir: string;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'pier-crash-'));
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('an acknowledged blob and manifest survive kill -9', async () => {
    let pier = await startPierProcess(dataDir);
    const layer = randomBytes(2 * 1024 * 1024);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layerDigest = await pushBlob(pier.url, 'crash/app', layer);
    const configDigest = await pushBlob(pier.url, 'crash/app', config);
    const manifest = imageManifest({ digest: configDigest, size: config.length }, { digest: layerDigest, size: layer.length });
    const put = await fetch(`${pier.url}/v2/crash/app/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: new Uint8Array(manifest),
    });
    assert.equal(put.status, 201);
    await pier.kill();

    pier = await startPierProcess(dataDir);
    try {
      const got = await fetch(`${pier.url}/v2/crash/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), manifest);
      const blob = await fetch(`${pier.url}/v2/crash/app/blobs/${layerDigest}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), layerDigest);
    } finally {
      await pier.kill();
    }
  });

  it('a blob whose upload was killed midway is not visible, and nothing partial is served', async () => {
    let pier = await startPierProcess(dataDir);
    const data = randomBytes(8 * 1024 * 1024);
    const digest = sha256(data);
    const port = Number(new URL(pier.url).port);
    // Send half the body, then kill the server while the request is still open.
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/crash/partial/blobs/uploads/?digest=${digest}`, headers: { 'Content-Length': data.length } });
      req.on('error', () => resolve());
      req.write(data.subarray(0, data.length / 2), () => {
        setTimeout(() => void pier.kill().then(() => resolve()), 200);
      });
    });
    pier = await startPierProcess(dataDir);
    try {
      assert.equal((await fetch(`${pier.url}/v2/crash/partial/blobs/${digest}`, { method: 'HEAD' })).status, 404);
      // The same push, retried in full, succeeds and is intact.
      await pushBlob(pier.url, 'crash/partial', data);
      const blob = await fetch(`${pier.url}/v2/crash/partial/blobs/${digest}`);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
    } finally {
      await pier.kill();
    }
  });

  it('a chunked upload acknowledged on one process, killed, is resumed on another process', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const digest = sha256(data);
    const cut = 1024 * 1024;
    const a = await startPierProcess(dataDir);
    const b = await startPierProcess(dataDir);
    try {
      const start = await fetch(`${a.url}/v2/crash/multi/blobs/uploads/`, { method: 'POST' });
      assert.equal(start.status, 202);
      const location = start.headers.get('location')!;
      const first = await fetch(`${a.url}${location}`, {
        method: 'PATCH',
        headers: { 'Content-Range': `0-${cut - 1}`, 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(data.subarray(0, cut)),
      });
      assert.equal(first.status, 202);
      assert.equal(first.headers.get('range'), `0-${cut - 1}`);
      await a.kill();

      const status = await fetch(`${b.url}${location}`);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${cut - 1}`);
      const second = await fetch(`${b.url}${location}`, {
        method: 'PATCH',
        headers: { 'Content-Range': `${cut}-${2 * cut - 1}`, 'Content-Type': 'application/octet-stream' },
        body: new Uint8Array(data.subarray(cut, 2 * cut)),
      });
      assert.equal(second.status, 202);
      const done = await fetch(`${b.url}${location}?digest=${digest}`, { method: 'PUT', body: new Uint8Array(data.subarray(2 * cut)) });
      assert.equal(done.status, 201);
      const blob = await fetch(`${b.url}/v2/crash/multi/blobs/${digest}`);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
    } finally {
      await a.kill();
      await b.kill();
    }
  });

  it('two live processes share one data directory: a push on one is pulled from the other at once', async () => {
    const a = await startPierProcess(dataDir);
    const b = await startPierProcess(dataDir);
    try {
      const layer = randomBytes(4096);
      const config = Buffer.from('{}');
      const layerDigest = await pushBlob(a.url, 'shared/app', layer);
      const configDigest = await pushBlob(b.url, 'shared/app', config);
      const manifest = imageManifest({ digest: configDigest, size: config.length }, { digest: layerDigest, size: layer.length });
      const put = await fetch(`${a.url}/v2/shared/app/manifests/latest`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: new Uint8Array(manifest),
      });
      assert.equal(put.status, 201);
      const tags = await (await fetch(`${b.url}/v2/shared/app/tags/list`)).json();
      assert.deepEqual(tags, { name: 'shared/app', tags: ['latest'] });
      const catalog = (await (await fetch(`${b.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.ok(catalog.repositories.includes('shared/app'));
    } finally {
      assert.equal(await a.stop(), 0, 'SIGTERM exits cleanly');
      await b.kill();
    }
  });
});
