/**
 * The one storage-driver suite against the Azure driver on Azurite, plus appends continued by another
 * driver instance (another process in production), the reference's blob names under `rootdirectory`, and
 * skopeo pushing to and pulling from a `pier serve` process on Azurite (downloads redirected to SAS URLs).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientEnv } from '../support/client-env.ts';
import { startPierWithConfig } from '../support/pier-config-process.ts';
import { requireTools } from '../support/tools.ts';
import { runDriverSuite } from '../../src/storage/testing/driver-suite.ts';
import { AzureDriver, type AzureSettings } from '../../src/storage/azure/azure-driver.ts';
import { startAzurite, type Azurite } from '../support/azurite.ts';

let azurite: Azurite;
before(async () => {
  azurite = await startAzurite();
});
after(() => azurite?.stop());

function settings(rootDirectory: string, extra: Partial<AzureSettings> = {}): AzureSettings {
  return { container: 'pier', rootDirectory, realm: 'core.windows.net', accountName: azurite.accountName, accountKey: azurite.accountKey, serviceUrl: azurite.serviceUrl, ...extra };
}

runDriverSuite('azure (Azurite)', async () => {
  const driver = await AzureDriver.open(settings(`/suite/${randomUUID()}/`));
  return { driver, cleanup: async () => undefined };
});

describe('azure driver on Azurite', () => {
  it('names blobs as the reference registry does, and opens with a connection string too', async () => {
    const root = `names-${randomUUID()}`;
    const driver = await AzureDriver.open(settings(`/${root}/`));
    await driver.putContent('docker/registry/v2/x', Buffer.from('1'));
    const bare = await AzureDriver.open({ container: 'pier', rootDirectory: '', realm: 'core.windows.net', connectionString: azurite.connectionString });
    assert.equal((await bare.getContent(`${root}/docker/registry/v2/x`))?.toString(), '1');
  });

  it('appends in blocks and another instance continues the same blob; an abort changes nothing', async () => {
    const root = `append-${randomUUID()}`;
    const first = await AzureDriver.open(settings(root));
    const second = await AzureDriver.open(settings(root));
    const a = randomBytes(9 * 1024 * 1024 + 5);
    const b = randomBytes(1234);
    const w1 = await first.appendWriter('u/data');
    for (let i = 0; i < a.length; i += 65_536) await w1.write(a.subarray(i, i + 65_536));
    await w1.commit();
    const w2 = await second.appendWriter('u/data');
    assert.equal(w2.startSize, a.length);
    await w2.write(b);
    await w2.commit();
    const w3 = await first.appendWriter('u/data');
    await w3.write(randomBytes(10 * 1024 * 1024));
    await w3.abort();
    const data = await second.getContent('u/data');
    assert.ok(data?.equals(Buffer.concat([a, b])), 'appended blob differs');
  });

  it('presigns a read URL the service honours', async () => {
    const driver = await AzureDriver.open(settings(`presign-${randomUUID()}`));
    await driver.putContent('b/data', Buffer.from('signed'));
    const response = await fetch(await driver.presignedUrl('b/data'));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'signed');
  });
});

describe('pier serve on Azurite', { timeout: 180_000 }, () => {
  it('takes a push from skopeo and serves it back with the same digest, redirecting blob downloads to the store', async () => {
    requireTools('skopeo');
    const scratch = mkdtempSync(join(tmpdir(), 'pier-azure-serve-'));
    const env = await createClientEnv('pier-azure-serve');
    const pier = await startPierWithConfig(join(scratch, 'pier'), [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  azure:',
      '    container: served',
      '    rootdirectory: /registry',
      `    accountname: ${azurite.accountName}`,
      `    accountkey: ${azurite.accountKey}`,
      `    serviceurl: ${azurite.serviceUrl}`,
    ]);
    try {
      const layout = join(scratch, 'layout');
      const blobs = join(layout, 'blobs', 'sha256');
      mkdirSync(blobs, { recursive: true });
      const put = (data: Buffer): { digest: string; size: number } => {
        const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
        writeFileSync(join(blobs, digest.slice(7)), data);
        return { digest, size: data.length };
      };
      const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(randomBytes(9 * 1024 * 1024)) };
      const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
      const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: [layer] })));
      writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
      const pushed = join(scratch, 'pushed.digest');
      await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', pushed, `oci:${layout}:v1`, `docker://${pier.host}/azure/app:v1`], { timeoutMs: 120_000 });
      const pulled = join(scratch, 'pulled.digest');
      await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', '--digestfile', pulled, `docker://${pier.host}/azure/app:v1`, `oci:${join(scratch, 'out')}:v1`], { timeoutMs: 120_000 });
      assert.equal(readFileSync(pulled, 'utf8').trim(), readFileSync(pushed, 'utf8').trim());
      const served = (await (await fetch(`${pier.url}/v2/azure/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).json()) as { layers: Array<{ digest: string }> };
      const redirect = await fetch(`${pier.url}/v2/azure/app/blobs/${served.layers[0]!.digest}`, { redirect: 'manual' });
      assert.equal(redirect.status, 307);
      assert.match(redirect.headers.get('location') ?? '', new RegExp(`^${azurite.serviceUrl}/served/registry/docker/registry/v2/blobs/sha256/.*[?&]sig=`));
    } finally {
      await pier.stop();
      await env.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
