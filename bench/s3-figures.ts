/**
 * Figures for Pier on S3 (OpenStack Swift's s3api on this machine), and the reference registry on the same
 * bucket:
 *   node --import tsx bench/s3-figures.ts [--repos 500] [--tags 20] [--blob-mib 64]
 *
 * 1. Fills a bucket with `repos` repositories of `tags` tags each, in the reference layout.
 * 2. Times Pier's first start on that bucket (the index built by walking it), then the full catalog and one
 *    tag list through Pier's HTTP API; then the same two listings from the reference registry (which walks
 *    the bucket for every catalog request).
 * 3. Times a monolithic and a chunked push of one blob of `blob-mib` MiB through Pier, and its pull through
 *    Pier and through the redirect to the store.
 * Progress to stderr, a JSON report to stdout. Swift runs under eatmydata (no fsync), so write figures are
 * an upper bound for a store that syncs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startSwiftS3 } from '../test/support/swift-s3.ts';
import { startReferenceRegistry } from '../test/support/reference-registry.ts';
import { S3Driver } from '../src/storage/s3/s3-driver.ts';
import { S3_DEFAULTS } from '../src/storage/s3/s3-options.ts';
import { DriverRegistryStorage } from '../src/storage/registry-storage.ts';
import { parseDigest } from '../src/registry/model/digest.ts';
import { mapConcurrently } from '../src/registry/map-concurrently.ts';
import { startServer } from '../src/main/start-server.ts';
import { createLogger } from '../src/observability/logger.ts';

const { values } = parseArgs({ options: { repos: { type: 'string', default: '500' }, tags: { type: 'string', default: '20' }, 'blob-mib': { type: 'string', default: '64' } } });
const REPOS = Number(values.repos);
const TAGS = Number(values.tags);
const BLOB_MIB = Number(values['blob-mib']);
const BUCKET = 'pier-bench';
const log = (...args: unknown[]): void => void process.stderr.write(`${args.join(' ')}\n`);
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;

for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
const swift = await startSwiftS3();
const scratch = mkdtempSync(join(tmpdir(), 'pier-s3-bench-'));
const report: Record<string, unknown> = { repos: REPOS, tags: TAGS, blobMiB: BLOB_MIB };
try {
  await swift.createBucket(BUCKET);
  const s3 = { ...S3_DEFAULTS, bucket: BUCKET, region: swift.region, regionEndpoint: swift.endpoint, accessKey: swift.accessKey, secretKey: swift.secretKey, rootDirectory: '/bench' };
  const driver = await S3Driver.open(s3);
  const storage = new DriverRegistryStorage(driver);

  // 1. A bucket in the reference layout: one image shared by every repository, `TAGS` tags each.
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] }));
  const configDigest = parseDigest(sha(config));
  const manifestDigest = parseDigest(sha(manifest));
  await storage.putBlob(configDigest, config);
  await storage.putBlob(manifestDigest, manifest);
  let start = process.hrtime.bigint();
  const names = Array.from({ length: REPOS }, (_, i) => `team-${i % 50}/app-${String(i).padStart(5, '0')}`);
  let objects = 0;
  await mapConcurrently(names, async (name) => {
    await storage.linkLayer(name, configDigest);
    await storage.linkRevision(name, manifestDigest);
    for (let t = 0; t < TAGS; t++) await storage.writeTag(name, `v${t}`, manifestDigest);
    objects += 2 + 2 * TAGS;
  }, 32);
  report.fill = { objects, seconds: seconds(start) };
  log('filled', JSON.stringify(report.fill));

  // 2. Pier: first start builds its index from the bucket; then listings through HTTP.
  start = process.hrtime.bigint();
  const pier = await startServer({ dataDir: join(scratch, 'pier'), storage: { driver: 's3', s3 }, redirect: true, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('warn') });
  report.pierFirstStartWithIndexBuild = seconds(start);
  const pierUrl = `http://127.0.0.1:${pier.port}`;
  const listAll = async (base: string): Promise<{ seconds: number; count: number }> => {
    const t = process.hrtime.bigint();
    let url: string | undefined = `${base}/v2/_catalog?n=1000`;
    let count = 0;
    while (url) {
      const response: Response = await fetch(url);
      count += ((await response.json()) as { repositories: string[] }).repositories.length;
      const link = response.headers.get('link');
      url = link ? new URL(/<([^>]+)>/.exec(link)![1]!, base).toString() : undefined;
    }
    return { seconds: seconds(t), count };
  };
  const tagList = async (base: string): Promise<{ seconds: number; count: number }> => {
    const t = process.hrtime.bigint();
    const body = (await (await fetch(`${base}/v2/${names[REPOS - 1]}/tags/list`)).json()) as { tags: string[] };
    return { seconds: seconds(t), count: body.tags.length };
  };
  report.pierCatalog = await listAll(pierUrl);
  report.pierTagList = await tagList(pierUrl);
  log('pier', JSON.stringify({ start: report.pierFirstStartWithIndexBuild, catalog: report.pierCatalog, tags: report.pierTagList }));

  // 3. Push and pull one blob through Pier.
  const blob = randomBytes(BLOB_MIB * 1024 * 1024);
  const digest = sha(blob);
  const mib = blob.length / 1024 / 1024;
  start = process.hrtime.bigint();
  let r = await fetch(`${pierUrl}/v2/bench/big/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
  if (r.status !== 201) throw new Error(`monolithic push: ${r.status} ${await r.text()}`);
  report.pushMonolithicMiBps = mib / seconds(start);
  start = process.hrtime.bigint();
  r = await fetch(`${pierUrl}/v2/bench/chunked/blobs/uploads/`, { method: 'POST' });
  let location = r.headers.get('location')!;
  const chunk = 16 * 1024 * 1024;
  for (let offset = 0; offset < blob.length; offset += chunk) {
    const part = blob.subarray(offset, offset + chunk);
    r = await fetch(new URL(location, pierUrl), { method: 'PATCH', body: part, headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + part.length - 1}` } });
    if (r.status !== 202) throw new Error(`chunk: ${r.status} ${await r.text()}`);
    location = r.headers.get('location')!;
  }
  const done = new URL(location, pierUrl);
  done.searchParams.set('digest', digest);
  r = await fetch(done, { method: 'PUT' });
  if (r.status !== 201) throw new Error(`chunked push: ${r.status} ${await r.text()}`);
  report.pushChunked16MiBPartsMiBps = mib / seconds(start);
  const pull = async (): Promise<number> => {
    const t = process.hrtime.bigint();
    const response = await fetch(`${pierUrl}/v2/bench/big/blobs/${digest}`);
    const body = Buffer.from(await response.arrayBuffer());
    if (sha(body) !== digest) throw new Error('pulled bytes differ');
    return mib / seconds(t);
  };
  report.pullRedirectedToStoreMiBps = await pull();
  await pier.close();
  const direct = await startServer({ dataDir: join(scratch, 'pier'), storage: { driver: 's3', s3 }, redirect: false, listen: { host: '127.0.0.1', port: 0 }, logger: createLogger('warn') });
  const directUrl = `http://127.0.0.1:${direct.port}`;
  {
    const t = process.hrtime.bigint();
    const body = Buffer.from(await (await fetch(`${directUrl}/v2/bench/big/blobs/${digest}`)).arrayBuffer());
    if (sha(body) !== digest) throw new Error('pulled bytes differ');
    report.pullThroughPierMiBps = mib / seconds(t);
  }
  await direct.close();
  log('transfer', JSON.stringify(report));

  // 4. The reference registry on the same bucket: its catalog walks the bucket on every request.
  const reference = await startReferenceRegistry({
    dataDir: join(scratch, 'unused'),
    startTimeoutMs: 60_000,
    storageDriverYaml: ['  s3:', '    region: us-east-1', `    bucket: ${BUCKET}`, `    regionendpoint: ${swift.endpoint}`, `    accesskey: ${swift.accessKey}`, `    secretkey: ${swift.secretKey}`, '    secure: false', '    rootdirectory: /bench'],
  });
  try {
    report.referenceCatalog = await listAll(reference.url);
    report.referenceTagList = await tagList(reference.url);
  } finally {
    await reference.close();
  }
  driver.close();
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} finally {
  await swift.stop();
  rmSync(scratch, { recursive: true, force: true });
}
