import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { startServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startPierProcess } from '../support/pier-process.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function withServer(fn: (url: string, close: () => Promise<void>) => Promise<void>): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pier-ops-'));
  const running = await startServer({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('silent'), drainTimeoutMs: 10_000, shutdownDelayMs: 400 });
  try {
    await fn(`http://127.0.0.1:${running.port}`, () => running.close());
  } finally {
    await running.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('metrics, health and graceful shutdown', () => {
  it('/metrics counts requests by route and status, bytes both ways, storage and index operations', async () => {
    await withServer(async (url) => {
      const blob = randomBytes(100_000);
      const digest = sha256(blob);
      assert.equal((await fetch(`${url}/v2/ops/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(blob) })).status, 201);
      const pulled = await fetch(`${url}/v2/ops/app/blobs/${digest}`);
      assert.equal((await pulled.arrayBuffer()).byteLength, blob.length);
      await fetch(`${url}/v2/ops/app/blobs/sha256:${'0'.repeat(64)}`);
      const res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.equal(metricValue(text, 'pier_http_requests_total', { route: 'upload-start', method: 'POST', status: '201' }), 1);
      assert.equal(metricValue(text, 'pier_http_requests_total', { route: 'blob', method: 'GET', status: '200' }), 1);
      assert.equal(metricValue(text, 'pier_http_requests_total', { route: 'blob', method: 'GET', status: '404' }), 1);
      assert.ok(metricValue(text, 'pier_http_received_bytes_total', { route: 'upload-start' }) >= blob.length);
      assert.ok(metricValue(text, 'pier_http_sent_bytes_total', { route: 'blob' }) >= blob.length);
      assert.ok(metricValue(text, 'pier_storage_operation_duration_seconds_count', { driver: 'filesystem', operation: 'move' }) >= 1);
      assert.ok(metricValue(text, 'pier_index_query_duration_seconds_count', { operation: 'addBlob' }) >= 1);
      assert.match(text, /^pier_process_resident_memory_bytes \d+/m);
      assert.match(text, /^pier_uploads_in_progress 0$/m);
      assert.doesNotMatch(text, /ops\/app/, 'repository names never become labels');
    });
  });

  it('/healthz is live; /readyz is ready while serving and flips to 503 while draining', async () => {
    await withServer(async (url, close) => {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { storage: 'ok', index: 'ok' });

      // A request in flight when the shutdown begins.
      const port = Number(new URL(url).port);
      const held = request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/ops/slow/blobs/uploads/?digest=${sha256(Buffer.from('ab'))}`, headers: { 'Content-Length': 2 } });
      const finished = new Promise<number>((resolve, reject) => {
        held.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        held.on('error', reject);
      });
      held.write('a');
      await new Promise((r) => setTimeout(r, 100));
      const closing = close();
      // During the shutdown delay the listener is still open and readiness says 503.
      const during = await fetch(`${url}/readyz`);
      assert.equal(during.status, 503);
      assert.equal(((await during.json()) as { state: string }).state, 'draining');
      held.end('b');
      assert.equal(await finished, 201, 'the request in flight completes during the drain');
      await closing;
    });
  });

  it('an upload in flight at SIGTERM completes, and the process then exits cleanly', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pier-sigterm-'));
    const pier = await startPierProcess(dataDir);
    try {
      const data = randomBytes(4 * 1024 * 1024);
      const digest = sha256(data);
      const port = Number(new URL(pier.url).port);
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/v2/term/app/blobs/uploads/?digest=${digest}`, headers: { 'Content-Length': data.length } });
      const response = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      req.write(data.subarray(0, data.length / 2));
      await new Promise((r) => setTimeout(r, 200));
      const exit = pier.stop();
      await new Promise((r) => setTimeout(r, 200));
      req.end(data.subarray(data.length / 2));
      assert.equal(await response, 201);
      assert.equal(await exit, 0);
      const again = await startPierProcess(dataDir);
      try {
        const blob = await fetch(`${again.url}/v2/term/app/blobs/${digest}`);
        assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), digest);
      } finally {
        await again.kill();
      }
    } finally {
      await pier.kill().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
