/**
 * The pull-through cache against a second Pier as its upstream, behind a counting proxy that can fail on
 * demand: one upstream fetch shared by 20 clients, a corrupted upstream blob, tag revalidation after the
 * TTL, and failover when the upstream is down, stalls or rate-limits — also after a restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { startPier, type RunningPier } from '../support/pier.ts';
import { startCountingProxy, type CountingProxy } from '../support/counting-proxy.ts';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { PullThroughSettings } from '../../src/upstream/upstream-settings.ts';
import { parseDigest } from '../../src/registry/model/digest.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const TIMEOUTS = { connectMs: 1_000, firstByteMs: 2_000, idleMs: 2_000 };
const TAG_TTL_MS = 3_000;

async function pushBlob(base: string, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes as unknown as Uint8Array<ArrayBuffer>, headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(res.status, 201, await res.text());
  return digest;
}

/** Pushes a one-layer image (config + layer) tagged `tag`; returns the manifest digest. */
async function pushImage(base: string, repo: string, tag: string, layer: Buffer, note = ''): Promise<{ manifest: string; layer: string; config: string }> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', note, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const config = await pushBlob(base, repo, configBytes);
  const layerDigest = await pushBlob(base, repo, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    }),
  );
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest as unknown as Uint8Array<ArrayBuffer>, headers: { 'Content-Type': OCI_MANIFEST } });
  assert.equal(res.status, 201, await res.text());
  return { manifest: sha256(manifest), layer: layerDigest, config };
}

/** GET a blob, hashing as it streams; reports status, hash, length, time to first byte and total time. */
async function pullBlob(base: string, repo: string, digest: string): Promise<{ status: number; digest?: string; length: number; firstByteMs: number; totalMs: number; error?: string }> {
  const started = performance.now();
  let firstByteMs = -1;
  let length = 0;
  const hash = createHash('sha256');
  try {
    const res = await request(`${base}/v2/${repo}/blobs/${digest}`);
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (firstByteMs < 0) firstByteMs = performance.now() - started;
      hash.update(chunk);
      length += chunk.length;
    }
    const expected = Number(res.headers['content-length']);
    return { status: res.statusCode, digest: `sha256:${hash.digest('hex')}`, length, firstByteMs, totalMs: performance.now() - started, ...(expected !== length ? { error: 'short' } : {}) };
  } catch (error) {
    return { status: -1, length, firstByteMs, totalMs: performance.now() - started, error: (error as Error).message };
  }
}

describe('pull-through cache: shared fetches, verification, revalidation and failover', { timeout: 120_000 }, () => {
  let upstream: RunningPier;
  let proxy: CountingProxy;
  let mirror: RunningServer;
  let mirrorUrl: string;
  let dataDir: string;
  const settings = (): PullThroughSettings => ({
    upstreams: [
      { name: 'hub', prefix: '', url: new URL(proxy.url), realms: [], tagTtlMs: TAG_TTL_MS, timeouts: TIMEOUTS, allow: [], deny: ['blocked/**'], mode: 'proxied', officialImages: false },
      { name: 'mixed', prefix: 'lf/', url: new URL(proxy.url), realms: [], tagTtlMs: 60_000, timeouts: TIMEOUTS, allow: [], deny: [], mode: 'local-first', officialImages: false },
    ],
    notFoundTtlMs: 1_000,
  });
  const startMirror = async (): Promise<void> => {
    mirror = await startServer({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger(process.env.PIER_TEST_LOG === '1' ? 'debug' : 'silent'), pullThrough: settings() });
    mirrorUrl = `http://127.0.0.1:${mirror.port}`;
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pier-mirror-'));
    upstream = await startPier();
    proxy = await startCountingProxy(upstream.url);
    await startMirror();
  });

  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await upstream?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('20 concurrent clients on one uncached 50 MB blob: one upstream GET, all correct, first byte long before the end', async (t) => {
    const big = randomBytes(50 * 1024 * 1024);
    const image = await pushImage(upstream.url, 'app/big', '1', big);
    const manifests = await Promise.all(Array.from({ length: 20 }, () => fetch(`${mirrorUrl}/v2/app/big/manifests/1`)));
    assert.deepEqual(new Set(manifests.map((r) => r.headers.get('docker-content-digest'))), new Set([image.manifest]));
    assert.equal(proxy.count('GET', /\/app\/big\/manifests\//), 1, 'one upstream manifest GET for 20 concurrent requests');
    proxy.blobRate = 20 * 1024 * 1024; // about 2.5 s for the whole blob
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => pullBlob(mirrorUrl, 'app/big', image.layer)));
      const blobGets = proxy.count('GET', new RegExp(`/blobs/${image.layer}$`));
      const firstBytes = results.map((r) => r.firstByteMs).sort((a, b) => a - b);
      const totals = results.map((r) => r.totalMs).sort((a, b) => a - b);
      t.diagnostic(`upstream blob GETs: ${blobGets}, HEADs: ${proxy.count('HEAD', new RegExp(`/blobs/${image.layer}$`))}`);
      t.diagnostic(`time to first byte ms: min ${firstBytes[0]!.toFixed(0)}, max ${firstBytes[19]!.toFixed(0)}; full download ms: min ${totals[0]!.toFixed(0)}, max ${totals[19]!.toFixed(0)}`);
      assert.equal(blobGets, 1, 'exactly one upstream blob GET');
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.equal(r.error, undefined);
        assert.equal(r.length, big.length);
        assert.equal(r.digest, image.layer);
      }
      assert.ok(firstBytes[0]! < totals[0]! / 4, `first byte (${firstBytes[0]} ms) long before the end (${totals[0]} ms)`);
      // Cached now: another pull makes no upstream request.
      const before = proxy.requests.length;
      const again = await pullBlob(mirrorUrl, 'app/big', image.layer);
      assert.equal(again.digest, image.layer);
      assert.equal(proxy.requests.length, before, 'served from the cache');
      const metrics = await (await fetch(`${mirrorUrl}/metrics`)).text();
      assert.match(metrics, /pier_proxy_shared_fetch_waiters_total\{upstream="hub"\} (19|[2-9]\d)/);
    } finally {
      proxy.blobRate = undefined;
    }
  });

  it('a corrupted upstream blob: no client gets a complete 200 with wrong bytes; a later pull is correct', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const image = await pushImage(upstream.url, 'app/corrupt', '1', bytes);
    proxy.corrupt.add(image.layer);
    const bad = await Promise.all([pullBlob(mirrorUrl, 'app/corrupt', image.layer), pullBlob(mirrorUrl, 'app/corrupt', image.layer)]);
    for (const r of bad) {
      assert.ok(r.error !== undefined || r.status !== 200, `a broken-off response, not ${JSON.stringify(r)}`);
      assert.ok(r.length < bytes.length, 'never the complete body');
    }
    proxy.corrupt.clear();
    const good = await pullBlob(mirrorUrl, 'app/corrupt', image.layer);
    assert.equal(good.status, 200);
    assert.equal(good.digest, image.layer);
    assert.equal(proxy.count('GET', new RegExp(`/blobs/${image.layer}$`)), 2, 'the bad bytes were not cached');

    // An upstream that stops sending in the middle of a body: broken off after the idle timeout, nothing cached.
    const stalled = await pushImage(upstream.url, 'app/stall-body', '1', randomBytes(3 * 1024 * 1024));
    proxy.stallBlobsAfter = 1024 * 1024;
    try {
      const r = await pullBlob(mirrorUrl, 'app/stall-body', stalled.layer);
      assert.ok(r.error !== undefined && r.length < 3 * 1024 * 1024, `broken off, not ${JSON.stringify(r)}`);
      assert.ok(r.totalMs < TIMEOUTS.idleMs + 3_000, `within the idle timeout (${r.totalMs} ms)`);
    } finally {
      proxy.stallBlobsAfter = undefined;
    }
    assert.equal((await pullBlob(mirrorUrl, 'app/stall-body', stalled.layer)).digest, stalled.layer);
  });

  it('local-first: pushed images are served from here, others from the upstream', async () => {
    const upstreamOnly = await pushImage(upstream.url, 'shared/app', '1', randomBytes(2048), 'upstream');
    const pushed = await pushImage(mirrorUrl, 'lf/mine/app', '1', randomBytes(2048), 'pushed here');
    const mine = await fetch(`${mirrorUrl}/v2/lf/mine/app/manifests/1`);
    assert.equal(mine.headers.get('docker-content-digest'), pushed.manifest);
    const theirs = await fetch(`${mirrorUrl}/v2/lf/shared/app/manifests/1`);
    assert.equal(theirs.headers.get('docker-content-digest'), upstreamOnly.manifest);
    assert.equal((await pullBlob(mirrorUrl, 'lf/shared/app', upstreamOnly.layer)).digest, upstreamOnly.layer);
  });

  it('tags: served within the TTL, revalidated with a HEAD after it, moved when upstream re-tagged', async () => {
    const first = await pushImage(upstream.url, 'app/tagged', 'v1', randomBytes(1024), 'first');
    const get = () => fetch(`${mirrorUrl}/v2/app/tagged/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal((await get()).headers.get('docker-content-digest'), first.manifest);
    const second = await pushImage(upstream.url, 'app/tagged', 'v1', randomBytes(1024), 'second');
    const heads = proxy.count('HEAD', /\/manifests\/v1$/);
    assert.equal((await get()).headers.get('docker-content-digest'), first.manifest, 'within the TTL: the cached tag, no upstream request');
    assert.equal(proxy.count('HEAD', /\/manifests\/v1$/), heads);
    await sleep(TAG_TTL_MS + 100);
    const res = await get();
    assert.equal(res.headers.get('docker-content-digest'), second.manifest, 'after the TTL: revalidated and moved');
    assert.equal(res.headers.get('warning'), null);
    assert.equal(proxy.count('HEAD', /\/manifests\/v1$/), heads + 1);
    // Unknown upstream: a 404, remembered briefly.
    const missing = await fetch(`${mirrorUrl}/v2/app/nothing/manifests/v1`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json() as { errors: Array<{ code: string }> }).errors[0]!.code, 'MANIFEST_UNKNOWN');
    const count = proxy.requests.length;
    assert.equal((await fetch(`${mirrorUrl}/v2/app/nothing/manifests/v1`)).status, 404);
    assert.equal(proxy.requests.length, count, 'the upstream 404 was cached');
    // Tag lists come from the upstream (tags not pulled yet included); the cached ones when it is down.
    await pushImage(upstream.url, 'app/tagged', 'v2', randomBytes(512), 'not pulled');
    const listed = (await (await fetch(`${mirrorUrl}/v2/app/tagged/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(listed.tags, ['v1', 'v2']);
    await proxy.setMode('refuse');
    try {
      assert.deepEqual(((await (await fetch(`${mirrorUrl}/v2/app/tagged/tags/list`)).json()) as { tags: string[] }).tags, ['v1']);
    } finally {
      await proxy.setMode('pass');
    }
    // Pushes to a proxied repository, and repositories the upstream must not serve.
    const push = await fetch(`${mirrorUrl}/v2/app/tagged/blobs/uploads/`, { method: 'POST' });
    assert.equal(push.status, 405);
    assert.equal((await push.json() as { errors: Array<{ code: string }> }).errors[0]!.code, 'UNSUPPORTED');
    assert.equal((await fetch(`${mirrorUrl}/v2/blocked/app/manifests/v1`)).status, 403);
  });

  for (const mode of ['refuse', 'stall', 'rate-limit'] as const) {
    it(`upstream ${mode === 'refuse' ? 'stopped' : mode === 'stall' ? 'stalled' : 'answering 429'}: cached images pull (stale tag with a Warning), uncached ones fail cleanly within the timeout`, async (t) => {
      const cached = await pushImage(upstream.url, `app/cached-${mode}`, '1', randomBytes(64 * 1024));
      await pushImage(upstream.url, `app/uncached-${mode}`, '1', randomBytes(1024));
      assert.equal((await fetch(`${mirrorUrl}/v2/app/cached-${mode}/manifests/1`)).status, 200);
      assert.equal((await pullBlob(mirrorUrl, `app/cached-${mode}`, cached.layer)).digest, cached.layer);
      await sleep(TAG_TTL_MS + 100); // past the tag TTL: the next pull must ask the upstream
      await proxy.setMode(mode);
      try {
        let started = performance.now();
        const stale = await fetch(`${mirrorUrl}/v2/app/cached-${mode}/manifests/1`);
        assert.equal(stale.status, 200);
        assert.equal(stale.headers.get('docker-content-digest'), cached.manifest);
        assert.match(stale.headers.get('warning') ?? '', /^110 pier "Response is stale: upstream hub /);
        const staleMs = performance.now() - started;
        assert.ok(staleMs < TIMEOUTS.firstByteMs + 3_000);
        assert.equal((await pullBlob(mirrorUrl, `app/cached-${mode}`, cached.layer)).digest, cached.layer);
        started = performance.now();
        const uncached = await fetch(`${mirrorUrl}/v2/app/uncached-${mode}/manifests/1`);
        const elapsed = performance.now() - started;
        const body = (await uncached.json()) as { errors: Array<{ code: string; message: string }> };
        assert.equal(uncached.status, mode === 'rate-limit' ? 429 : 503);
        assert.equal(body.errors[0]!.code, mode === 'rate-limit' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE');
        assert.match(body.errors[0]!.message, /upstream hub/);
        assert.ok(elapsed < TIMEOUTS.firstByteMs + 3_000, `failed within the timeout (${elapsed} ms)`);
        t.diagnostic(`${mode}: cached tag served stale in ${staleMs.toFixed(0)} ms; uncached answered ${uncached.status} ${body.errors[0]!.code} in ${elapsed.toFixed(0)} ms: ${body.errors[0]!.message}`);
      } finally {
        await proxy.setMode('pass');
      }
    });
  }

  it('cache size limit: the least recently pulled image is evicted and its blobs freed', async () => {
    const evictDir = mkdtempSync(join(tmpdir(), 'pier-mirror-evict-'));
    const limited = await startServer({
      dataDir: evictDir,
      listen: { host: '127.0.0.1', port: 0 },
      logger: createLogger('silent'),
      pullThrough: { ...settings(), eviction: { maxBytes: 1_500_000, intervalMs: 200, gcGraceMs: 0 } },
    });
    const url = `http://127.0.0.1:${limited.port}`;
    try {
      const old = await pushImage(upstream.url, 'app/evict-old', '1', randomBytes(1_000_000));
      const recent = await pushImage(upstream.url, 'app/evict-new', '1', randomBytes(1_000_000));
      for (const [repo, image] of [['app/evict-old', old], ['app/evict-new', recent]] as const) {
        assert.equal((await fetch(`${url}/v2/${repo}/manifests/1`)).status, 200);
        assert.equal((await pullBlob(url, repo, image.layer)).digest, image.layer);
        await sleep(50);
      }
      const { index, storage } = limited.opened;
      const deadline = Date.now() + 15_000;
      while ((await index.getManifest('app/evict-old', old.manifest)) !== undefined || (await storage.blobSize(parseDigest(old.layer))) !== undefined) {
        assert.ok(Date.now() < deadline, 'evicted and collected within 15 s');
        await sleep(100);
      }
      await proxy.setMode('refuse');
      try {
        assert.equal((await fetch(`${url}/v2/app/evict-new/manifests/1`)).status, 200, 'the recently pulled image stays');
        assert.equal((await pullBlob(url, 'app/evict-new', recent.layer)).digest, recent.layer);
        assert.equal((await fetch(`${url}/v2/app/evict-old/manifests/1`)).status, 503, 'the least recently pulled image was evicted');
        assert.equal((await pullBlob(url, 'app/evict-old', old.layer)).status, 503, 'and its layer freed');
      } finally {
        await proxy.setMode('pass');
      }
    } finally {
      await limited.close();
      rmSync(evictDir, { recursive: true, force: true });
    }
  });

  it('restarted during an outage, Pier still serves its cache', async () => {
    const cached = await pushImage(upstream.url, 'app/restart', '1', randomBytes(32 * 1024));
    assert.equal((await fetch(`${mirrorUrl}/v2/app/restart/manifests/1`)).status, 200);
    assert.equal((await pullBlob(mirrorUrl, 'app/restart', cached.layer)).digest, cached.layer);
    await proxy.setMode('refuse');
    try {
      await mirror.close();
      await startMirror();
      const res = await fetch(`${mirrorUrl}/v2/app/restart/manifests/1`);
      assert.equal(res.status, 200, 'not a 404 for a cached tag while the upstream is down');
      assert.equal(res.headers.get('docker-content-digest'), cached.manifest);
      assert.match(res.headers.get('warning') ?? '', /stale/);
      assert.equal((await pullBlob(mirrorUrl, 'app/restart', cached.layer)).digest, cached.layer);
      assert.equal((await pullBlob(mirrorUrl, 'app/restart', cached.config)).status, 503, 'an uncached blob fails cleanly');
    } finally {
      await proxy.setMode('pass');
    }
  });
});
