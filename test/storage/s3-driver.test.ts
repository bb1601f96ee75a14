/**
 * The one storage-driver suite against the S3 driver on a real S3 implementation (OpenStack Swift's s3api),
 * plus what only S3 has: multipart appends continued by another driver instance (another process in
 * production), the reference's object keys under `rootdirectory`, multipart copy, presigned URLs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mapConcurrently } from '../../src/registry/map-concurrently.ts';
import { runDriverSuite } from '../../src/storage/testing/driver-suite.ts';
import { S3Driver } from '../../src/storage/s3/s3-driver.ts';
import { S3_DEFAULTS, MIN_PART_SIZE, type S3Settings } from '../../src/storage/s3/s3-options.ts';
import { startSwiftS3, withoutAwsVariables, type SwiftS3 } from '../support/swift-s3.ts';

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

  it('a writer that died mid-append leaves nothing visible, and the next writer cleans up its multipart upload', async () => {
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
