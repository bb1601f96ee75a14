/**
 * Pier on S3, against a real S3 implementation (OpenStack Swift's s3api), started once for the file:
 * - the one storage-driver suite, and what only S3 has: multipart appends continued by another driver
 *   instance, the reference's object keys under `rootdirectory`, multipart copy, listing pages, presigned URLs;
 * - one bucket shared by the reference registry (Debian's docker-registry, its s3-aws driver) and Pier
 *   processes (`pier serve config.yml`): what the reference wrote is served by Pier with the same digests
 *   (blob downloads redirected to presigned URLs, as the reference does); an upload started on one Pier
 *   process is continued and finished on another; what Pier wrote is served by the reference.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapConcurrently } from '../../src/registry/map-concurrently.ts';
import { runDriverSuite } from '../../src/storage/testing/driver-suite.ts';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import { parseDigest } from '../../src/registry/model/digest.ts';
import { S3_DEFAULTS, MIN_PART_SIZE, type S3Settings } from '../../src/storage/s3/s3-options.ts';
import { startSwiftS3, withoutAwsVariables, type SwiftS3 } from '../support/swift-s3.ts';
import { createClientEnv, run, type ClientEnv } from '../support/client-env.ts';
import { startPierWithConfig } from '../support/pier-config-process.ts';
import { startReferenceRegistry } from '../support/reference-registry.ts';
import { requireTools } from '../support/tools.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

// The SDK reads AWS_* variables (CA bundle, profile, endpoint): none from the machine may leak in.
for (const key of Object.keys(process.env)) if (!(key in withoutAwsVariables())) delete process.env[key];

let swift: SwiftS3;
const BUCKET = 'pier-driver-suite';
const drivers: S3Driver[] = [];

before(async () => {
  swift = await startSwiftS3();
  await swift.createBucket(BUCKET);
});
after(async () => {
  for (const driver of drivers) driver.close();
  await swift?.stop();
});

function settings(rootDirectory: string, extra: Partial<S3Settings> = {}): S3Settings {
  return {
    ...S3_DEFAULTS,
    bucket: BUCKET,
    region: swift.region,
    rootDirectory,
    regionEndpoint: swift.endpoint,
    accessKey: swift.accessKey,
    secretKey: swift.secretKey,
    chunkSize: MIN_PART_SIZE,
    ...extra,
  };
}

async function open(rootDirectory: string, extra: Partial<S3Settings> = {}): Promise<S3Driver> {
  const driver = await S3Driver.open(settings(rootDirectory, extra));
  drivers.push(driver);
  return driver;
}

async function readAll(stream: AsyncIterable<unknown> | undefined): Promise<Buffer> {
  assert.ok(stream);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

// Each test gets its own root directory in one bucket: that also exercises the key prefix.
runDriverSuite('s3 (Swift s3api)', async () => {
  const driver = await open(`/suite/${randomUUID()}/`);
  return { driver, cleanup: async () => driver.delete('docker').catch(() => undefined) };
});

describe('s3 driver on Swift s3api', () => {
  it('stores keys where the reference registry does: <rootdirectory>/<path>, slashes trimmed', async () => {
    const root = `keys-${randomUUID()}`;
    const driver = await open(`/${root}/`);
    await driver.putContent('docker/registry/v2/repositories/a/_layers/sha256/ab/link', Buffer.from('sha256:ab'));
    const bare = await open('');
    assert.equal((await bare.getContent(`${root}/docker/registry/v2/repositories/a/_layers/sha256/ab/link`))?.toString(), 'sha256:ab');
    assert.equal(driver.key('docker/x'), `${root}/docker/x`);
    assert.equal(bare.key('docker/x'), 'docker/x');
  });

  it('a repository\'s start-up fingerprint costs a few listings, however many tags and revisions it has', async () => {
    const driver = await open(`fingerprint-${randomUUID()}`);
    let requests = 0;
    driver.client.middlewareStack.add((next) => async (args) => ((requests += 1), next(args)), { step: 'initialize', name: 'countRequests' });
    const storage = new DriverRegistryStorage(driver);
    const digest = (n: number) => parseDigest(`sha256:${n.toString(16).padStart(64, '0')}`);
    const cost = async (tags: number): Promise<{ requests: number; fingerprint: string }> => {
      const repository = `fp/tags-${tags}`;
      for (let i = 0; i < tags; i++) {
        await storage.linkRevision(repository, digest(1000 + i));
        await storage.writeTag(repository, `t${i}`, digest(1000 + i));
      }
      await storage.linkLayer(repository, digest(1));
      requests = 0;
      const { fingerprint } = await storage.repositoryFingerprint(repository);
      return { requests, fingerprint };
    };
    const few = await cost(3);
    const many = await cost(40);
    assert.ok(many.requests <= few.requests + 2, `40 tags cost ${many.requests} requests, 3 tags ${few.requests}: not one per tag`);
    assert.ok(many.requests <= 12, `${many.requests} requests`);
    // and it still sees a change: one more tag
    await storage.writeTag('fp/tags-40', 'extra', digest(1000));
    assert.notEqual((await storage.repositoryFingerprint('fp/tags-40')).fingerprint, many.fingerprint);
  });

  it('appends in multipart chunks and another instance continues the same object', async () => {
    const root = `append-${randomUUID()}`;
    const first = await open(root);
    const second = await open(root); // another process, in production
    const a = randomBytes(MIN_PART_SIZE + 123_457); // more than one part
    const b = randomBytes(3 * 1024 * 1024 + 11); // appended to an object above the part minimum: UploadPartCopy
    const c = randomBytes(100);
    const w1 = await first.appendWriter('u/data');
    for (let i = 0; i < a.length; i += 65_536) await w1.write(a.subarray(i, i + 65_536));
    await w1.commit();
    const w2 = await second.appendWriter('u/data');
    assert.equal(w2.startSize, a.length);
    await w2.write(b);
    await w2.commit();
    const w3 = await first.appendWriter('u/data');
    assert.equal(w3.startSize, a.length + b.length);
    await w3.write(c);
    await w3.commit();
    const all = Buffer.concat([a, b, c]);
    assert.equal((await second.stat('u/data'))?.size, all.length);
    assert.ok((await readAll(await second.reader('u/data'))).equals(all), 'the appended object differs from what was written');
  });

  it('a writer that died mid-append leaves nothing visible; the next writer, or purging the session, aborts its multipart upload', async () => {
    const root = `stale-${randomUUID()}`;
    const driver = await open(root);
    const kept = randomBytes(1000);
    const w1 = await driver.appendWriter('u/data');
    await w1.write(kept);
    await w1.commit();
    const dying = await driver.appendWriter('u/data');
    await dying.write(randomBytes(MIN_PART_SIZE + 10)); // one part uploaded, then the process "dies"
    assert.deepEqual(await driver.getContent('u/data'), kept);
    const { ListMultipartUploadsCommand } = await import('@aws-sdk/client-s3');
    const open1 = await driver.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: driver.key('u/data') }));
    assert.equal(open1.Uploads?.length, 1);
    const next = await driver.appendWriter('u/data');
    assert.equal(next.startSize, kept.length);
    await next.abort();
    const open2 = await driver.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: driver.key('u/data') }));
    assert.equal(open2.Uploads?.length ?? 0, 0);
    assert.deepEqual(await driver.getContent('u/data'), kept);
    // Purging the session takes a dead writer's open multipart upload with it.
    const dyingAgain = await driver.appendWriter('u/data');
    await dyingAgain.write(randomBytes(MIN_PART_SIZE + 10));
    await driver.delete('u');
    const open3 = await driver.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: driver.key('u') }));
    assert.equal(open3.Uploads?.length ?? 0, 0);
    assert.equal(await driver.stat('u/data'), undefined);
  });

  it('moves a large object with a multipart copy', async () => {
    const driver = await open(`move-${randomUUID()}`, { multipartCopyThresholdSize: MIN_PART_SIZE, multipartCopyChunkSize: MIN_PART_SIZE });
    const data = randomBytes(2 * MIN_PART_SIZE + 4097);
    await driver.putContent('from/data', data);
    await driver.move('from/data', 'to/data');
    assert.ok((await driver.getContent('to/data'))?.equals(data));
    assert.equal(await driver.stat('from/data'), undefined);
  });

  it('lists and deletes a prefix of more than one listing page', async () => {
    const driver = await open(`many-${randomUUID()}`, { listPageSize: 7 });
    await mapConcurrently(Array.from({ length: 23 }, (_, i) => i), (i) => driver.putContent(`d/${String(i).padStart(4, '0')}`, Buffer.from('x')), 8);
    await driver.putContent('d/sub/x', Buffer.from('x'));
    await driver.putContent('d-sibling', Buffer.from('kept'));
    assert.deepEqual(await driver.list('d'), [...Array.from({ length: 23 }, (_, i) => String(i).padStart(4, '0')), 'sub']);
    await driver.delete('d');
    assert.deepEqual(await driver.list('d'), []);
    assert.equal((await driver.getContent('d-sibling'))?.toString(), 'kept');
  });

  it('presigns GET and HEAD URLs that the store honours', async () => {
    const driver = await open(`presign-${randomUUID()}`);
    const data = randomBytes(777);
    await driver.putContent('blob/data', data);
    const get = await fetch(await driver.presignedUrl('blob/data', 'GET'));
    assert.equal(get.status, 200);
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(data));
    const head = await fetch(await driver.presignedUrl('blob/data', 'HEAD'), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '777');
  });

  it('reports a missing bucket as an error, not as an empty store', async () => {
    const driver = await open('x', { bucket: 'pier-no-such-bucket' });
    await assert.rejects(driver.list('docker'));
  });
});

describe('one bucket shared by the reference registry and Pier processes', { timeout: 300_000 }, () => {
  const SHARED = 'pier-shared';
  const ROOT = '/registry';
  const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  let env: ClientEnv;
  let scratch: string;
  let fromReference: string;
  let fromPier: string;
  let chunkedBlob: string;

  before(async () => {
    requireTools('skopeo', 'docker-registry');
    scratch = mkdtempSync(join(tmpdir(), 'pier-s3-shared-'));
    env = await createClientEnv('pier-s3-shared');
    await swift.createBucket(SHARED);
  });
  after(async () => {
    await env?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const s3Keys = (): string[] => [
    '  s3:',
    '    region: us-east-1',
    `    bucket: ${SHARED}`,
    `    regionendpoint: ${swift.endpoint}`,
    `    accesskey: ${swift.accessKey}`,
    `    secretkey: ${swift.secretKey}`,
    '    secure: false',
    `    rootdirectory: ${ROOT}`,
  ];
  const startPier = (name: string) =>
    startPierWithConfig(join(scratch, name), ['version: 0.1', 'log:', '  level: warn', 'storage:', ...s3Keys(), '    multipartcopythresholdsize: 5242880', '  delete:', '    enabled: true']);
  const startReference = () => startReferenceRegistry({ dataDir: join(scratch, 'unused'), startTimeoutMs: 60_000, storageDriverYaml: s3Keys() });

  /** An OCI layout with one image: a config, a 12 MB layer (multipart on S3) and a small one. */
  function writeLayout(name: string): string {
    const dir = join(scratch, name);
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer | string): { digest: string; size: number } => {
      const buffer = Buffer.from(data);
      const digest = sha256(buffer);
      writeFileSync(join(blobs, digest.slice(7)), buffer);
      return { digest, size: buffer.length };
    };
    const layers = [randomBytes(12 * 1024 * 1024 + 17), randomBytes(3000)].map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(b) }));
    const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} }));
    const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers }));
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
    return dir;
  }

  async function push(layout: string, host: string, ref: string): Promise<string> {
    const digestFile = join(scratch, `digest-${randomBytes(4).toString('hex')}`);
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${layout}:v1`, `docker://${host}/${ref}`], { timeoutMs: 120_000 });
    return readFileSync(digestFile, 'utf8').trim();
  }

  /** Pulls into a fresh OCI layout (skopeo checks every blob's digest); returns the manifest's digest. */
  async function pull(host: string, ref: string): Promise<string> {
    const dest = join(scratch, `pulled-${randomBytes(4).toString('hex')}`);
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', '--digestfile', `${dest}.digest`, `docker://${host}/${ref}`, `oci:${dest}:v1`], { timeoutMs: 120_000 });
    return readFileSync(`${dest}.digest`, 'utf8').trim();
  }

  it('the reference registry writes the bucket', async () => {
    const reference = await startReference();
    try {
      fromReference = await push(writeLayout('layout-ref'), reference.host, 'interop/from-reference:v1');
    } finally {
      await reference.close();
    }
  });

  it('Pier serves it with the same digests, redirecting blob downloads; an upload started on one Pier process is finished on another', async () => {
    const [first, second] = await Promise.all([startPier('pier-a'), startPier('pier-b')]);
    try {
      assert.equal(await pull(first.host, 'interop/from-reference:v1'), fromReference);
      const catalog = (await (await fetch(`${first.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['interop/from-reference']);
      // skopeo compresses layers on push: the manifest to read is the registry's, not the layout's.
      const manifest = (await (
        await fetch(`${first.url}/v2/interop/from-reference/manifests/${fromReference}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })
      ).json()) as { layers: Array<{ digest: string }> };
      const redirect = await fetch(`${first.url}/v2/interop/from-reference/blobs/${manifest.layers[1]!.digest}`, { redirect: 'manual' });
      assert.equal(redirect.status, 307, 'the reference redirects blob downloads on S3 by default, and so does Pier');
      assert.match(redirect.headers.get('location') ?? '', new RegExp(`^${swift.endpoint}/${SHARED}${ROOT}/docker/registry/v2/blobs/sha256/`));

      const chunks = [randomBytes(6 * 1024 * 1024 + 3), randomBytes(7 * 1024 * 1024 + 5), randomBytes(1001)];
      const blob = Buffer.concat(chunks);
      const digest = sha256(blob);
      const started = await fetch(`${first.url}/v2/interop/chunked/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      let location = started.headers.get('location')!;
      let offset = 0;
      for (const [i, chunk] of chunks.slice(0, 2).entries()) {
        const target = i === 0 ? first : second; // each chunk on another process
        const response = await fetch(new URL(location, target.url), {
          method: 'PATCH',
          body: chunk,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
        });
        assert.equal(response.status, 202, await response.text());
        offset += chunk.length;
        assert.equal(response.headers.get('range'), `0-${offset - 1}`);
        location = response.headers.get('location')!;
      }
      const status = await fetch(new URL(location, first.url));
      assert.equal(status.headers.get('range'), `0-${offset - 1}`, 'the first process sees what the second appended');
      const url = new URL(location, second.url);
      url.searchParams.set('digest', digest);
      const done = await fetch(url, { method: 'PUT', body: chunks[2], headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(done.status, 201, await done.text());
      const served = await fetch(`${second.url}/v2/interop/chunked/blobs/${digest}`); // follows the redirect to the store
      assert.equal(served.status, 200);
      assert.equal(sha256(Buffer.from(await served.arrayBuffer())), digest);
      const bare = await open(ROOT.slice(1), { bucket: SHARED });
      assert.equal((await bare.stat(`docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`))?.size, blob.length);

      fromPier = await push(writeLayout('layout-pier'), second.host, 'interop/from-pier:v1');
      chunkedBlob = `docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data`;
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it('pier gc --config on the bucket deletes the blob no manifest references', async () => {
    assert.ok(chunkedBlob, 'the previous test uploaded a blob without a manifest');
    // From the second process's directory: its index is the one that knows every push.
    await run(process.execPath, ['--no-warnings', '--import', import.meta.resolve('tsx'), CLI, 'gc', '--config', 'config.yml', '--grace', '0s'], {
      cwd: join(scratch, 'pier-b'),
      env: withoutAwsVariables(),
      timeoutMs: 120_000,
    });
    const bare = await open(ROOT.slice(1), { bucket: SHARED });
    assert.equal(await bare.stat(chunkedBlob), undefined, 'the unreferenced blob is gone from the bucket');
  });

  it('the reference registry serves what Pier wrote, and every image survived the collection', async () => {
    assert.ok(fromPier, 'the previous test pushed an image through Pier');
    const reference = await startReference();
    try {
      assert.equal(await pull(reference.host, 'interop/from-pier:v1'), fromPier);
      assert.equal(await pull(reference.host, 'interop/from-reference:v1'), fromReference);
    } finally {
      await reference.close();
    }
  });
});
