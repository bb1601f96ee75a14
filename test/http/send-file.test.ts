/**
 * src/http/send-file.ts under concurrency: the per-process read budget holds while many responses send at
 * once, every byte arrives in order (whole files and ranges), and clients that stop reading do not stall
 * the downloads of others (only reads wait for a budget slot, never sockets).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KEPT_BUFFERS, READ_SLOTS, SEND_CHUNK, sendBufferStats, sendFileRange } from '../../src/http/send-file.ts';

const SIZE = 5 * SEND_CHUNK + 12_345; // whole chunks and a short last one
const content = randomBytes(SIZE);
let dir: string;
let file: string;
let server: Server;
let port: number;
let maxReading = 0;
let maxFree = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pier-send-file-'));
  file = join(dir, 'blob');
  writeFileSync(file, content);
  server = createServer((req, res) => {
    void (async () => {
      const [start, end] = (req.url ?? '/0-0').slice(1).split('-').map(Number) as [number, number];
      const handle = await open(file, 'r');
      res.writeHead(200, { 'Content-Length': end - start + 1 });
      try {
        await sendFileRange(res, handle, start, end - start + 1);
      } catch {
        res.destroy();
      } finally {
        await handle.close();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  const watch = setInterval(() => {
    const stats = sendBufferStats();
    maxReading = Math.max(maxReading, stats.reading);
    maxFree = Math.max(maxFree, stats.free);
  }, 1);
  watch.unref();
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function fetchRange(start: number, end: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/${start}-${end}`, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('end', () => resolve(Buffer.concat(parts)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('sending files within a per-process budget', () => {
  it('40 concurrent whole-file and ranged responses: exact bytes, at most READ_SLOTS reads at once and KEPT_BUFFERS kept', { timeout: 20_000 }, async () => {
    const ranges: Array<[number, number]> = [];
    for (let n = 0; n < 40; n++) ranges.push(n % 4 === 0 ? [7, SIZE - 3] : [0, SIZE - 1]);
    const bodies = await Promise.all(ranges.map(([s, e]) => fetchRange(s, e)));
    bodies.forEach((body, n) => assert.equal(sha(body), sha(content.subarray(ranges[n]![0], ranges[n]![1] + 1)), `response ${n}`));
    assert.ok(maxReading <= READ_SLOTS, `reading ${maxReading} > ${READ_SLOTS}`);
    assert.ok(maxReading >= 2, 'the responses overlapped');
    assert.ok(maxFree <= KEPT_BUFFERS, `kept ${maxFree} > ${KEPT_BUFFERS}`);
    const after = sendBufferStats();
    assert.equal(after.reading, 0);
    assert.equal(after.waiting, 0);
  });

  it('clients that never read do not hold up other downloads', { timeout: 20_000 }, async () => {
    // More stalled clients than read slots: each has a response whose socket is full.
    const stalled: Socket[] = [];
    for (let n = 0; n < READ_SLOTS + 4; n++) {
      const socket = connect(port, '127.0.0.1');
      socket.pause();
      socket.write(`GET /0-${SIZE - 1} HTTP/1.1\r\nHost: x\r\n\r\n`);
      stalled.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const bodies = await Promise.all([fetchRange(0, SIZE - 1), fetchRange(100, 200), fetchRange(0, SIZE - 1)]);
      assert.equal(sha(bodies[0]!), sha(content));
      assert.deepEqual(bodies[1], content.subarray(100, 201));
      assert.equal(sha(bodies[2]!), sha(content));
      assert.equal(sendBufferStats().waiting, 0);
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  });
});
