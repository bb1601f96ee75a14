/**
 * `node --import tsx bench/scale-out.ts [--seconds 10] [--concurrency 16] [--only listings,throughput] [--storage filesystem|s3]`
 *
 * Scale-out figures on this machine, with a private PostgreSQL 15 and nginx (as the replica tests start them):
 * - listings: the catalog and tag lists served from PostgreSQL with 5,000 repositories and 100,000 tags
 *   (20 per repository, written straight into the index: listing reads only the index);
 * - throughput: 1 replica vs 3 replicas behind nginx (round-robin), sharing PostgreSQL and one data
 *   directory: small-image pushes/s (2 blobs + manifest) and manifest GETs/s at a fixed concurrency, and
 *   pull MB/s of an 8 MiB blob with 4 readers.
 * `--storage s3`: the replicas share a bucket of a private OpenStack Swift (s3api) instead of a directory, each
 * replica running in a working directory of its own, as on separate machines. Every replica is one process
 * (`--workers 1`), so the comparison is about replicas, not workers.
 * The load generator runs in this process, on the same cores as the servers: read the figures with the
 * machine's core count in mind (printed first).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres, type RunningPostgres } from '../test/support/postgres.ts';
import { startNginx } from '../test/support/nginx.ts';
import { startPierProcess, type PierProcess } from '../test/support/pier-process.ts';
import { buildImage, pushBuilt } from '../test/support/http-fixtures.ts';
import { startSwiftS3, withoutAwsVariables, type SwiftS3 } from '../test/support/swift-s3.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '16' },
    only: { type: 'string', default: 'listings,throughput' },
    storage: { type: 'string', default: 'filesystem' },
  },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
let concurrencyOverride = CONCURRENCY;
const only = new Set(args.only.split(','));
if (args.storage !== 'filesystem' && args.storage !== 's3') throw new Error('--storage is filesystem or s3');
let swift: SwiftS3 | undefined;

const log = (...parts: unknown[]) => process.stderr.write(`${parts.join(' ')}\n`);
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function startReplicas(postgres: RunningPostgres, count: number, dataDir: string, scratch: string): Promise<{ servers: PierProcess[]; database: string }> {
  const database = await postgres.createDatabase('bench');
  const passwordFile = join(scratch, `pw-${database}`);
  writeFileSync(passwordFile, postgres.password, { mode: 0o600 });
  const config = join(scratch, `config-${database}.yml`);
  const storage = swift
    ? `storage:\n  s3:\n    region: ${swift.region}\n    bucket: ${await swift.createBucket(`bench-${database}`.replace(/_/g, '-'))}\n    regionendpoint: ${swift.endpoint}\n    accesskey: ${swift.accessKey}\n    secretkey: ${swift.secretKey}\n    forcepathstyle: true\n`
    : `storage:\n  filesystem:\n    rootdirectory: ${dataDir}\n`;
  writeFileSync(
    config,
    `version: 0.1\n${storage}index:\n  backend: postgres\n  postgres:\n    host: ${postgres.host}\n    port: ${postgres.port}\n    database: ${database}\n    user: ${postgres.user}\n    passwordfile: ${passwordFile}\n`,
  );
  const start = (n: number) =>
    swift
      ? startPierProcess(undefined, ['--config', config, '--workers', '1'], { cwd: mkdtempSync(join(scratch, `replica-${n}-`)), env: withoutAwsVariables() })
      : startPierProcess(dataDir, ['--config', config, '--workers', '1']);
  const first = await start(0); // builds the (empty) index once
  const others = await Promise.all(Array.from({ length: count - 1 }, (_, i) => start(i + 1)));
  return { servers: [first, ...others], database };
}

/** Runs `op` from CONCURRENCY workers for SECONDS; returns completed operations per second and latencies. */
async function load(op: (worker: number, i: number) => Promise<void>): Promise<{ perSecond: number; p50: number; p95: number; errors: number }> {
  const deadline = Date.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let errors = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrencyOverride }, async (_, worker) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const t = performance.now();
        try {
          await op(worker, i);
          latencies.push(performance.now() - t);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p95: percentile(latencies, 95), errors };
}

async function throughput(postgres: RunningPostgres, replicas: number): Promise<Record<string, unknown>> {
  const scratch = mkdtempSync(join(os.tmpdir(), 'pier-bench-scale-'));
  const dataDir = join(scratch, 'data');
  const { servers } = await startReplicas(postgres, replicas, dataDir, scratch);
  const nginx = await startNginx(servers.map((s) => new URL(s.url).host));
  try {
    const base = nginx.url;
    // warm up, and images for the GETs
    const images: Array<{ name: string; tag: string; image: ReturnType<typeof buildImage> }> = [];
    for (let i = 0; i < 20; i++) {
      const image = buildImage({ layers: [randomBytes(1024)] });
      await pushBuilt(base, `bench/get-${i % 4}`, image, `t${i}`);
      images.push({ name: `bench/get-${i % 4}`, tag: `t${i}`, image });
    }
    const pushes = await load(async (worker, i) => {
      const image = buildImage({ layers: [randomBytes(1024)] });
      const res = await pushBuilt(base, `bench/push-${worker % 8}`, image, `w${worker}-${i}`);
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(String(res.status));
    });
    const gets = await load(async (worker, i) => {
      const { name, tag, image } = images[(worker + i) % images.length]!;
      const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, { headers: { Accept: image.mediaType } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(String(res.status));
    });
    // pulls: one 8 MiB blob, 4 concurrent readers
    const big = randomBytes(8 * 1024 * 1024);
    const bigImage = buildImage({ layers: [big] });
    await pushBuilt(base, 'bench/big', bigImage, 'big');
    const bigDigest = bigImage.blobs[1]!.digest;
    const saved = CONCURRENCY;
    concurrencyOverride = 4;
    const pulls = await load(async () => {
      const res = await fetch(`${base}/v2/bench/big/blobs/${bigDigest}`);
      const got = await res.arrayBuffer();
      if (res.status !== 200 || got.byteLength !== big.length) throw new Error(String(res.status));
    });
    concurrencyOverride = saved;
    return { replicas, pushes, manifestGets: gets, pullMBps: (pulls.perSecond * big.length) / 1e6, pulls };
  } finally {
    await nginx.stop();
    for (const s of servers) await s.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function listings(postgres: RunningPostgres): Promise<Record<string, unknown>> {
  const scratch = mkdtempSync(join(os.tmpdir(), 'pier-bench-list-'));
  const { servers: [server], database } = await startReplicas(postgres, 1, join(scratch, 'data'), scratch);
  try {
    const t0 = Date.now();
    // 5,000 repositories × 20 tags, each tag on its own manifest, written in three statements.
    postgres.psql(
      `INSERT INTO repositories (name) SELECT 'team-' || (r % 50) || '/app-' || r FROM generate_series(1, 5000) r;
       INSERT INTO manifests (repository_id, digest, media_type, size, created_at, pushed_at)
         SELECT r.id, 'sha256:' || encode(sha256((r.id || '-' || t)::bytea), 'hex'), 'application/vnd.oci.image.manifest.v1+json', 500, now(), now()
         FROM repositories r, generate_series(1, 20) t;
       INSERT INTO tags (repository_id, name, digest, updated_at)
         SELECT r.id, 'v1.' || t, 'sha256:' || encode(sha256((r.id || '-' || t)::bytea), 'hex'), now() FROM repositories r, generate_series(1, 20) t;
       ANALYZE;`,
      database,
    );
    const counts = postgres.psql('SELECT (SELECT count(*) FROM repositories) || \' \' || (SELECT count(*) FROM tags)', database);
    log(`populated ${counts} (repositories tags) in ${Date.now() - t0} ms`);
    const timed = async (url: string): Promise<{ ms: number; body: unknown; link: string | null }> => {
      const t = performance.now();
      const res = await fetch(url);
      const body = await res.json();
      return { ms: performance.now() - t, body, link: res.headers.get('link') };
    };
    for (let i = 0; i < 5; i++) await timed(`${server!.url}/v2/_catalog?n=1000`); // warm
    const walks: number[] = [];
    for (let run = 0; run < 5; run++) {
      const t = performance.now();
      let url: string | undefined = `${server!.url}/v2/_catalog?n=1000`;
      let seen = 0;
      while (url) {
        const page = await timed(url);
        seen += (page.body as { repositories: string[] }).repositories.length;
        const next = page.link ? /<([^>]+)>/.exec(page.link)?.[1] : undefined;
        url = next ? new URL(next, server!.url).toString() : undefined;
      }
      if (seen !== 5000) throw new Error(`catalog walk saw ${seen}`);
      walks.push(performance.now() - t);
    }
    const fullPage: number[] = [];
    for (let i = 0; i < 20; i++) fullPage.push((await timed(`${server!.url}/v2/_catalog`)).ms);
    const tagLists: number[] = [];
    for (let i = 0; i < 200; i++) {
      const r = 1 + Math.floor(Math.random() * 5000);
      const res = await timed(`${server!.url}/v2/team-${r % 50}/app-${r}/tags/list`);
      if ((res.body as { tags: string[] }).tags.length !== 20) throw new Error('tags/list');
      tagLists.push(res.ms);
    }
    // and one repository holding 100,000 tags of its own
    postgres.psql(
      `INSERT INTO repositories (name) VALUES ('big/app');
       INSERT INTO manifests (repository_id, digest, media_type, size, created_at, pushed_at)
         SELECT id, 'sha256:' || encode(sha256('big'::bytea), 'hex'), 'application/vnd.oci.image.manifest.v1+json', 500, now(), now() FROM repositories WHERE name = 'big/app';
       INSERT INTO tags (repository_id, name, digest, updated_at)
         SELECT r.id, 'build-' || lpad(t::text, 6, '0'), 'sha256:' || encode(sha256('big'::bytea), 'hex'), now() FROM repositories r, generate_series(1, 100000) t WHERE r.name = 'big/app';
       ANALYZE;`,
      database,
    );
    const bigAll: number[] = [];
    const bigPage: number[] = [];
    for (let i = 0; i < 5; i++) {
      const all = await timed(`${server!.url}/v2/big/app/tags/list`);
      if ((all.body as { tags: string[] }).tags.length !== 100_000) throw new Error('big tags/list');
      bigAll.push(all.ms);
      bigPage.push((await timed(`${server!.url}/v2/big/app/tags/list?n=1000&last=build-050000`)).ms);
    }
    const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
    return {
      tagList100000TagsInOneRepository: { p50: ms(percentile(sorted(bigAll), 50)), max: ms(Math.max(...bigAll)) },
      tagListPageOf1000InThatRepository: { p50: ms(percentile(sorted(bigPage), 50)), max: ms(Math.max(...bigPage)) },
      catalogWalk5000ByPagesOf1000: { p50: ms(percentile(sorted(walks), 50)), max: ms(Math.max(...walks)) },
      catalogDefaultPage: { p50: ms(percentile(sorted(fullPage), 50)), p95: ms(percentile(sorted(fullPage), 95)) },
      tagList20Tags: { p50: ms(percentile(sorted(tagLists), 50)), p95: ms(percentile(sorted(tagLists), 95)) },
    };
  } finally {
    await server!.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (args.storage === 's3') swift = await startSwiftS3();
log(`storage: ${args.storage}, cpus: ${os.cpus().length}, load average: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, seconds per run: ${SECONDS}, concurrency: ${CONCURRENCY}`);
const postgres = await startPostgres();
try {
  const report: Record<string, unknown> = { cpus: os.cpus().length, loadAverageAtStart: os.loadavg(), seconds: SECONDS, concurrency: CONCURRENCY };
  if (only.has('listings')) report.listings = await listings(postgres);
  if (only.has('throughput')) report.throughput = [await throughput(postgres, 1), await throughput(postgres, 3)];
  report.loadAverageAtEnd = os.loadavg();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await postgres.stop();
  await swift?.stop();
}
