/** `/v2/<name>/blobs/<digest>`: HEAD, GET (whole and ranged) and DELETE, enabled and disabled. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import { API_VERSION, bytes, digestOf, expectError, pushBlob, stopPier } from '../support/http-fixtures.ts';

let pier: RunningPier;
const NAME = 'blobs/test';
const data = randomBytes(1000);
let digest: string;

before(async () => {
  pier = await startPier();
  digest = await pushBlob(pier.url, NAME, data);
});
after(async () => {
  await stopPier(pier);
});

const blobUrl = (name: string, d: string) => `${pier.url}/v2/${name}/blobs/${d}`;

describe('HEAD and GET a blob', () => {
  it('HEAD → 200 with Content-Length, Docker-Content-Digest, ETag and no body', async () => {
    const res = await fetch(blobUrl(NAME, digest), { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
    assert.ok(res.headers.get('etag')?.includes(digest));
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('GET → 200 with the exact bytes', async () => {
    const res = await fetch(blobUrl(NAME, digest));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(await bytes(res), data);
  });

  it('a blob is only visible in the repository it was pushed to', async () => {
    await expectError(await fetch(blobUrl('blobs/other', digest)), 404, 'BLOB_UNKNOWN');
    const head = await fetch(blobUrl('blobs/other', digest), { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('unknown blob → 404 BLOB_UNKNOWN (GET) and 404 (HEAD)', async () => {
    const unknown = digestOf(Buffer.from('never pushed'));
    await expectError(await fetch(blobUrl(NAME, unknown)), 404, 'BLOB_UNKNOWN');
    const head = await fetch(blobUrl(NAME, unknown), { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.headers.get('docker-distribution-api-version'), API_VERSION);
  });

  for (const bad of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, `sha384:${'a'.repeat(96)}`, 'sha256']) {
    it(`invalid digest ${bad.slice(0, 20)} → 400 DIGEST_INVALID`, async () => {
      await expectError(await fetch(blobUrl(NAME, bad)), 400, 'DIGEST_INVALID');
    });
  }

  for (const bad of ['Upper/case', 'a..b', '-lead', 'trail-', 'a__ _b', 'x'.repeat(256)]) {
    it(`invalid name ${JSON.stringify(bad.slice(0, 20))} → 400 NAME_INVALID`, async () => {
      await expectError(await fetch(blobUrl(encodeURI(bad), digest)), 400, 'NAME_INVALID');
    });
  }
});

describe('Range requests', () => {
  const cases: Array<[string, number, number]> = [
    ['bytes=0-9', 0, 9],
    ['bytes=100-199', 100, 199],
    ['bytes=990-', 990, 999],
    ['bytes=-25', 975, 999],
    ['bytes=500-100000', 500, 999],
    ['bytes=999-999', 999, 999],
  ];
  for (const [header, start, end] of cases) {
    it(`${header} → 206 ${start}-${end}/1000`, async () => {
      const res = await fetch(blobUrl(NAME, digest), { headers: { Range: header } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/1000`);
      assert.equal(res.headers.get('content-length'), String(end - start + 1));
      assert.equal(res.headers.get('docker-content-digest'), digest);
      assert.deepEqual(await bytes(res), data.subarray(start, end + 1));
    });
  }

  for (const header of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0']) {
    it(`${header} → 416 with Content-Range bytes */1000`, async () => {
      const res = await fetch(blobUrl(NAME, digest), { headers: { Range: header } });
      assert.equal(res.status, 416);
      assert.equal(res.headers.get('content-range'), 'bytes */1000');
      await res.arrayBuffer();
    });
  }

  for (const header of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3', 'nonsense']) {
    it(`unsupported or invalid syntax ${JSON.stringify(header)} is ignored: 200 with the whole blob`, async () => {
      const res = await fetch(blobUrl(NAME, digest), { headers: { Range: header } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-range'), null);
      assert.deepEqual(await bytes(res), data);
    });
  }

  it('a ranged GET of an unknown blob is still 404 BLOB_UNKNOWN', async () => {
    await expectError(await fetch(blobUrl(NAME, digestOf(Buffer.from('nope'))), { headers: { Range: 'bytes=0-1' } }), 404, 'BLOB_UNKNOWN');
  });
});

describe('empty blob', () => {
  it('HEAD and GET of a zero-byte blob; any range is unsatisfiable', async () => {
    const empty = await pushBlob(pier.url, NAME, Buffer.alloc(0));
    assert.equal(empty, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const head = await fetch(blobUrl(NAME, empty), { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '0');
    const get = await fetch(blobUrl(NAME, empty));
    assert.equal(get.status, 200);
    assert.equal((await bytes(get)).length, 0);
    const ranged = await fetch(blobUrl(NAME, empty), { headers: { Range: 'bytes=0-' } });
    assert.equal(ranged.status, 416);
    assert.equal(ranged.headers.get('content-range'), 'bytes */0');
    await ranged.arrayBuffer();
  });
});

describe('DELETE a blob', () => {
  it('202 with Docker-Content-Digest, then HEAD/GET 404 and a second DELETE 404 BLOB_UNKNOWN', async () => {
    const payload = randomBytes(50);
    const d = await pushBlob(pier.url, 'blobs/deleteme', payload);
    const del = await fetch(blobUrl('blobs/deleteme', d), { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal(del.headers.get('docker-content-digest'), d);
    await del.arrayBuffer();
    await expectError(await fetch(blobUrl('blobs/deleteme', d)), 404, 'BLOB_UNKNOWN');
    assert.equal((await fetch(blobUrl('blobs/deleteme', d), { method: 'HEAD' })).status, 404);
    await expectError(await fetch(blobUrl('blobs/deleteme', d), { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  it('deleting in one repository leaves the same blob in another repository', async () => {
    const payload = randomBytes(40);
    const d = await pushBlob(pier.url, 'blobs/keep-a', payload);
    await pushBlob(pier.url, 'blobs/keep-b', payload);
    const del = await fetch(blobUrl('blobs/keep-a', d), { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    const other = await fetch(blobUrl('blobs/keep-b', d));
    assert.equal(other.status, 200);
    assert.deepEqual(await bytes(other), payload);
  });

  it('DELETE of an invalid digest → 400 DIGEST_INVALID; of an unknown one → 404 BLOB_UNKNOWN', async () => {
    await expectError(await fetch(blobUrl(NAME, 'sha256:zz'), { method: 'DELETE' }), 400, 'DIGEST_INVALID');
    await expectError(await fetch(blobUrl(NAME, digestOf(Buffer.from('unknown'))), { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });
});

describe('DELETE a blob when deletes are disabled', () => {
  let ro: RunningPier;
  before(async () => {
    ro = await startPier({ deleteEnabled: false });
  });
  after(async () => {
    await stopPier(ro);
  });

  it('405 UNSUPPORTED, and the blob is still there', async () => {
    const payload = randomBytes(30);
    const d = await pushBlob(ro.url, 'ro/repo', payload);
    await expectError(await fetch(`${ro.url}/v2/ro/repo/blobs/${d}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    const get = await fetch(`${ro.url}/v2/ro/repo/blobs/${d}`);
    assert.equal(get.status, 200);
    assert.deepEqual(await bytes(get), payload);
  });
});
