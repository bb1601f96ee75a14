/**
 * The start-up check's cost (index/reconcile.ts) on object stores: starts a private S3 (Swift's s3api) or
 * Azure (azurite), writes R repositories of T tags through the driver (one manifest revision per tag), then
 * runs the check three times on one index — the first start (every repository read), then two starts with
 * nothing changed — and prints each one's time and request count.
 *
 *   node --import tsx bench/reconcile/object-store-check.ts [--store s3|azure] [--repos 20] [--tags 20]
 */
import { createHash } from 'node:crypto';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import type { StorageDriver } from '../../src/storage/contract.ts';
import { parseDigest } from '../../src/registry/model/digest.ts';
import { reconcileIndex } from '../../src/index/reconcile.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { startSwiftS3 } from '../../test/support/swift-s3.ts';
import { startAzurite } from '../../test/support/azurite.ts';
import { startCountingProxy } from '../../test/support/counting-proxy.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const STORE = arg('store', 's3');
const REPOS = Number(arg('repos', '20'));
const TAGS = Number(arg('tags', '20'));

/** A driver on a fresh store, and the number of requests it has sent so far. */
async function openStore(): Promise<{ driver: StorageDriver; requests(): number; stop(): Promise<void> }> {
  if (STORE === 's3') {
    const { S3Driver } = await import('../../src/storage/s3/s3-driver.ts');
    const { S3_DEFAULTS, MIN_PART_SIZE } = await import('../../src/storage/s3/s3-options.ts');
    const swift = await startSwiftS3();
    await swift.createBucket('bench');
    const driver = await S3Driver.open({ ...S3_DEFAULTS, bucket: 'bench', region: swift.region, rootDirectory: '/bench', regionEndpoint: swift.endpoint, accessKey: swift.accessKey, secretKey: swift.secretKey, chunkSize: MIN_PART_SIZE });
    let sent = 0;
    driver.client.middlewareStack.add((next) => async (args) => ((sent += 1), next(args)), { step: 'initialize', name: 'benchCount' });
    return { driver, requests: () => sent, stop: async () => (driver.close(), swift.stop()) };
  }
  const { AzureDriver } = await import('../../src/storage/azure/azure-driver.ts');
  const azurite = await startAzurite();
  const proxy = await startCountingProxy(new URL(azurite.serviceUrl).origin); // counts every request
  const driver = await AzureDriver.open({ accountName: azurite.accountName, accountKey: azurite.accountKey, container: 'bench', realm: 'core.windows.net', serviceUrl: `${proxy.url}/${azurite.accountName}`, rootDirectory: '/bench' });
  return { driver, requests: () => proxy.requests.length, stop: async () => (await proxy.close(), await azurite.stop()) };
}

const store = await openStore();
try {
  const storage = new DriverRegistryStorage(store.driver);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: REPOS }, async (_, r) => {
      for (let i = 0; i < TAGS; i++) {
        const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 2 }, layers: [], annotations: { n: `${r}-${i}` } }));
        const digest = parseDigest(`sha256:${createHash('sha256').update(body).digest('hex')}`);
        await storage.putBlob(digest, body);
        await storage.linkRevision(`bench/app-${r}`, digest);
        await storage.writeTag(`bench/app-${r}`, `v${i}`, digest);
      }
    }),
  );
  console.log(`${STORE}: wrote ${REPOS} repositories × ${TAGS} tags in ${Date.now() - started} ms`);
  const index = new SqliteIndex(':memory:');
  for (const run of ['first start (every repository read)', 'start, nothing changed', 'start, nothing changed']) {
    const before = store.requests();
    const report = await reconcileIndex(storage, index);
    const requests = store.requests() - before;
    console.log(`${run}: ${report.durationMs} ms, ${requests} requests (${(requests / report.repositories).toFixed(1)} per repository), ${report.changed.length} read`);
  }
  await index.close();
} finally {
  await store.stop();
}
