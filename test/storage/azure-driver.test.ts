/**
 * The one storage-driver suite against the Azure driver on Azurite, plus appends continued by another
 * driver instance (another process in production) and the reference's blob names under `rootdirectory`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
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
