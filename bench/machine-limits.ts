/**
 * The machine's own limits, measured in the same run as the workloads: SHA-256 (node:crypto, one core),
 * sequential write with fsync and read back in the data directory's filesystem, and loopback TCP each way
 * to another process. Each is measured twice; the figures are MB/s (10^6 bytes per second).
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { open, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { randomBuffer } from './registry-client.ts';

const MiB = 1024 * 1024;

export interface MachineLimits {
  sha256: number[];
  diskWrite: number[];
  /** Reading back what was just written: the page cache, as the pull workloads see their blobs. */
  fileRead: number[];
  /** Reading with O_DIRECT (dd iflag=direct): the device itself; information only. */
  diskReadDirect: number[];
  tcpUpload: number[];
  tcpDownload: number[];
}

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

function sha256Throughput(data: Buffer): number {
  const started = performance.now();
  const hash = createHash('sha256');
  for (let offset = 0; offset < data.length; offset += MiB) hash.update(data.subarray(offset, offset + MiB));
  hash.digest();
  return mbps(data.length, performance.now() - started);
}

async function diskRoundTrip(dir: string, data: Buffer): Promise<{ write: number; read: number; direct: number }> {
  const file = join(dir, `disk-probe-${process.pid}`);
  const block = 4 * MiB;
  let started = performance.now();
  const out = await open(file, 'w');
  for (let offset = 0; offset < data.length; offset += block) await out.write(data, offset, Math.min(block, data.length - offset));
  await out.sync();
  await out.close();
  const write = mbps(data.length, performance.now() - started);

  started = performance.now();
  const input = await open(file, 'r');
  const buffer = Buffer.allocUnsafe(block);
  let total = 0;
  for (;;) {
    const { bytesRead } = await input.read(buffer, 0, block, null);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  await input.close();
  const read = mbps(total, performance.now() - started);

  started = performance.now();
  const dd = spawnSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'], { encoding: 'utf8' });
  const direct = dd.status === 0 ? mbps(data.length, performance.now() - started) : 0;
  await rm(file, { force: true });
  return { write, read, direct };
}

function tcpTransfer(port: number, mode: 'U' | 'D', bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const slab = Buffer.alloc(MiB, 0x33);
    const socket = net.connect(port, '127.0.0.1');
    let started = 0;
    let received = 0;
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.once('end', () => {
      const ms = performance.now() - started;
      if (mode === 'D' && received !== bytes) reject(new Error(`loopback download: ${received} of ${bytes} bytes`));
      else resolve(mbps(bytes, ms));
      socket.end();
    });
    socket.once('connect', () => {
      const header = Buffer.alloc(9);
      header.write(mode, 0, 'latin1');
      header.writeBigUInt64BE(BigInt(bytes), 1);
      started = performance.now();
      socket.write(header);
      if (mode === 'D') return;
      let left = bytes;
      const pump = (): void => {
        while (left > 0) {
          const part = left >= slab.length ? slab : slab.subarray(0, left);
          left -= part.length;
          if (!socket.write(part)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

/** Measures every limit twice. `dataRoot` is where the registries keep their data; `tcpPort` is the trivial server's raw port. */
export async function measureMachineLimits(bytes: number, dataRoot: string, tcpPort: number): Promise<MachineLimits> {
  const data = randomBuffer(bytes);
  const limits: MachineLimits = { sha256: [], diskWrite: [], fileRead: [], diskReadDirect: [], tcpUpload: [], tcpDownload: [] };
  for (let i = 0; i < 2; i++) {
    limits.sha256.push(sha256Throughput(data));
    const disk = await diskRoundTrip(dataRoot, data);
    limits.diskWrite.push(disk.write);
    limits.fileRead.push(disk.read);
    limits.diskReadDirect.push(disk.direct);
    limits.tcpUpload.push(await tcpTransfer(tcpPort, 'U', bytes));
    limits.tcpDownload.push(await tcpTransfer(tcpPort, 'D', bytes));
  }
  return limits;
}
