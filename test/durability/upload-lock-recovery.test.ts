/**
 * An upload session is resumable the moment a killed Pier is back: the session write lock the dead process
 * held must not refuse the client (it used to answer 416 for a minute). Three sessions are caught by one
 * SIGKILL while each has a request in flight — a chunked PATCH, the final streamed PUT after every chunk
 * was acknowledged, and a monolithic PUT — and each is resumed on the restarted process at once.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request, type ClientRequest } from 'node:http';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MB = 1024 * 1024;

/** Opens a request, writes `sent` of its body and leaves it open (the server is holding the session lock). */
async function openRequest(url: string, method: string, path: string, headers: Record<string, string | number>, sent: Buffer): Promise<ClientRequest> {
  const { port } = new URL(url);
  const req = request({ host: '127.0.0.1', port: Number(port), method, path, headers });
  req.on('error', () => undefined); // the server will die under it
  req.flushHeaders();
  if (sent.length > 0) await new Promise<void>((resolve) => req.write(sent, () => resolve()));
  return req;
}

async function startSession(url: string, repo: string): Promise<string> {
  const res = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202);
  return res.headers.get('location')!;
}

async function patch(url: string, location: string, data: Buffer, start: number): Promise<Response> {
  return fetch(`${url}${location}`, {
    method: 'PATCH',
    headers: { 'Content-Range': `${start}-${start + data.length - 1}`, 'Content-Type': 'application/octet-stream' },
    body: new Uint8Array(data),
  });
}

/** What a client does after a failure: ask the session where it stands. */
async function storedSize(url: string, location: string): Promise<number> {
  const res = await fetch(`${url}${location}`);
  assert.equal(res.status, 204, 'the session survived the crash');
  const range = res.headers.get('range')!;
  return Number(range.split('-')[1]) + 1;
}

describe('upload sessions after kill -9: resumable at once', () => {
  let dataDir: string;
  let pier: PierProcess | undefined;
  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'pier-lock-'));
  });
  after(async () => {
    await pier?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a chunked PATCH, a final PUT and a monolithic PUT, each interrupted by SIGKILL, complete on the restarted process', async () => {
    pier = await startPierProcess(dataDir);
    const chunked = randomBytes(6 * MB + 17);
    const allChunks = randomBytes(2 * MB + 5);
    const monolithic = randomBytes(6 * MB + 3);
    const repo = 'lock/app';

    // 1. Chunked: the first chunk is acknowledged; the second is half sent when the process dies.
    const chunkedAt = await startSession(pier.url, repo);
    assert.equal((await patch(pier.url, chunkedAt, chunked.subarray(0, 2 * MB), 0)).status, 202);
    const open: ClientRequest[] = [];
    open.push(
      await openRequest(pier.url, 'PATCH', chunkedAt, { 'Content-Range': `${2 * MB}-${chunked.length - 1}`, 'Content-Length': chunked.length - 2 * MB }, chunked.subarray(2 * MB, 4 * MB)),
    );
    // 2. Every chunk acknowledged; the final PUT is streamed and has sent nothing yet.
    const allChunksAt = await startSession(pier.url, repo);
    assert.equal((await patch(pier.url, allChunksAt, allChunks, 0)).status, 202);
    open.push(await openRequest(pier.url, 'PUT', `${allChunksAt}?digest=${sha256(allChunks)}`, { 'Transfer-Encoding': 'chunked' }, Buffer.alloc(0)));
    // 3. Monolithic: the whole blob in the PUT that completes the session, cut off midway.
    const monolithicAt = await startSession(pier.url, repo);
    open.push(
      await openRequest(pier.url, 'PUT', `${monolithicAt}?digest=${sha256(monolithic)}`, { 'Content-Length': monolithic.length, 'Content-Type': 'application/octet-stream' }, monolithic.subarray(0, 3 * MB)),
    );
    await new Promise((r) => setTimeout(r, 300)); // let the server take each session's lock and write
    await pier.kill();
    for (const req of open) req.destroy();

    pier = await startPierProcess(dataDir);
    const started = Date.now();

    const atChunked = await storedSize(pier.url, chunkedAt);
    assert.ok(atChunked >= 2 * MB && atChunked <= 4 * MB, `chunked session holds ${atChunked} bytes`);
    const resumed = await patch(pier.url, chunkedAt, chunked.subarray(atChunked), atChunked);
    assert.equal(resumed.status, 202, `resuming the chunked session: ${await resumed.text()}`);
    const chunkedDone = await fetch(`${pier.url}${chunkedAt}?digest=${sha256(chunked)}`, { method: 'PUT' });
    assert.equal(chunkedDone.status, 201, await chunkedDone.text());
    assert.equal(chunkedDone.headers.get('docker-content-digest'), sha256(chunked));

    assert.equal(await storedSize(pier.url, allChunksAt), allChunks.length);
    const allChunksDone = await fetch(`${pier.url}${allChunksAt}?digest=${sha256(allChunks)}`, { method: 'PUT' });
    assert.equal(allChunksDone.status, 201, await allChunksDone.text());

    const atMonolithic = await storedSize(pier.url, monolithicAt);
    assert.ok(atMonolithic <= 3 * MB, `monolithic session holds ${atMonolithic} bytes`);
    const monolithicDone = await fetch(`${pier.url}${monolithicAt}?digest=${sha256(monolithic)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: new Uint8Array(monolithic.subarray(atMonolithic)),
    });
    assert.equal(monolithicDone.status, 201, await monolithicDone.text());
    assert.ok(Date.now() - started < 20_000, 'no waiting for a lease to run out');

    for (const data of [chunked, allChunks, monolithic]) {
      const blob: Response = await fetch(`${pier!.url}/v2/${repo}/blobs/${sha256(data)}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(data), 'the blob is intact');
    }
  });
});
