/**
 * GC at scale: builds a store of ~10,000 manifests and ~50,000 blobs (a third of the manifests then
 * untagged or deleted), measures `pier gc --delete-untagged` as a separate process (wall time, peak
 * resident memory), and the p50/p99 latency of small image pushes with and without that GC running.
 *
 *   node --import tsx bench/gc/gc-scale.ts [--manifests 10000] [--layers 4] [--pushes 200]
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { openRegistry } from '../../src/main/open-registry.ts';
import { startServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { parseDigest } from '../../src/registry/model/digest.ts';
import { parseReference } from '../../src/registry/model/reference.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const MANIFESTS = arg('manifests', 10_000);
const LAYERS = arg('layers', 4);
const PUSHES = arg('pushes', 200);
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function image(): { blobs: Buffer[]; manifest: Buffer } {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(8).toString('hex') }));
  const layers = Array.from({ length: LAYERS }, () => randomBytes(256));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(l), size: l.length })),
    }),
  );
  return { blobs: [config, ...layers], manifest };
}

async function populate(dataDir: string): Promise<void> {
  const opened = await openRegistry({ dataDir, logger: createLogger('silent'), registry: { deleteEnabled: true } });
  const { registry } = opened;
  const started = Date.now();
  const one = async (i: number) => {
    const repo = `scale/r${i % 100}`;
    const img = image();
    for (const blob of img.blobs) {
      const id = await registry.uploads.start(repo);
      await registry.uploads.complete(repo, id, parseDigest(sha(blob)), { stream: Readable.from([blob]), length: blob.length });
    }
    const tag = i % 3 === 0 ? `old${i}` : `t${i}`;
    await registry.manifests.put(repo, parseReference(tag), img.manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (i % 3 === 0) await registry.manifests.delete(repo, parseReference(tag)); // untagged: garbage for --delete-untagged
  };
  const CONCURRENCY = 16;
  for (let i = 0; i < MANIFESTS; i += CONCURRENCY) {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, MANIFESTS - i) }, (_, k) => one(i + k)));
    if ((i / CONCURRENCY) % 50 === 0) process.stderr.write(`\rpopulating ${i}/${MANIFESTS} (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  process.stderr.write(`\rpopulated ${MANIFESTS} manifests, ${MANIFESTS * (LAYERS + 1)} blobs in ${Math.round((Date.now() - started) / 1000)} s\n`);
  await opened.close();
}

/** `count` pushes; with `until`, as many as fit until it says stop (the pushes made while GC runs). */
async function pushLatencies(url: string, count: number, until?: () => boolean, tagPrefix = 'p'): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; until ? !until() : i < count; i++) {
    const img = image();
    const t0 = process.hrtime.bigint();
    for (const blob of img.blobs) {
      const res = await fetch(`${url}/v2/push/app/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: new Uint8Array(blob) });
      await res.arrayBuffer();
    }
    const res = await fetch(`${url}/v2/push/app/manifests/${tagPrefix}${i}`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: new Uint8Array(img.manifest) });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`push failed: ${res.status}`);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return latencies;
}

const pct = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;

function runGc(dataDir: string): Promise<{ seconds: number; peakRssMb: number; summary: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gc', '--data', dataDir, '--grace', '0s', '--delete-untagged'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let peak = 0;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const timer = setInterval(() => {
      try {
        const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (hwm) peak = Math.max(peak, Number(hwm[1]) / 1024);
      } catch {
        // exited
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`gc exited ${code}`));
      resolve({ seconds: (Date.now() - t0) / 1000, peakRssMb: Math.round(peak), summary: out.trim().split('\n').pop() ?? '' });
    });
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'pier-gc-scale-'));
try {
  await populate(dataDir);
  const server = await startServer({ dataDir, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('silent') });
  const url = `http://127.0.0.1:${server.port}`;
  const quiet = await pushLatencies(url, PUSHES);
  let gcDone = false;
  const gcRun = runGc(dataDir).finally(() => (gcDone = true));
  const during = await pushLatencies(url, PUSHES, () => gcDone, 'd'); // only pushes made while GC runs
  const gc = await gcRun;
  await server.close();
  const result = {
    manifests: MANIFESTS,
    blobs: MANIFESTS * (LAYERS + 1),
    gcSeconds: gc.seconds,
    gcPeakRssMb: gc.peakRssMb,
    gcSummary: gc.summary,
    pushMsWithoutGc: { p50: pct(quiet, 50), p99: pct(quiet, 99) },
    pushMsDuringGc: { p50: pct(during, 50), p99: pct(during, 99), pushes: during.length },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
