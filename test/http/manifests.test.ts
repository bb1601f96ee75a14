/** `/v2/<name>/manifests/<reference>`: PUT, GET, HEAD and DELETE by tag and by digest, and their errors. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import {
  API_VERSION,
  asBody,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  buildArtifact,
  buildImage,
  buildIndex,
  bytes,
  digestOf,
  expectError,
  pushBlob,
  pushBuilt,
  pushImage,
  putManifest,
  stopPier,
} from '../support/http-fixtures.ts';

let pier: RunningPier;
before(async () => {
  pier = await startPier();
});
after(async () => {
  await stopPier(pier);
});

const manifestUrl = (name: string, ref: string) => `${pier.url}/v2/${name}/manifests/${ref}`;

async function tagsOf(name: string): Promise<string[]> {
  const res = await fetch(`${pier.url}/v2/${name}/tags/list`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] }).tags;
}

describe('PUT a manifest', () => {
  it('by tag → 201 with Location, Docker-Content-Digest and no OCI-Subject', async () => {
    const image = buildImage({ indent: 2 });
    const res = await pushBuilt(pier.url, 'mf/put', image, 'v1');
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, `/v2/mf/put/manifests/${image.digest}`);
    assert.equal(res.headers.get('oci-subject'), null);
    await res.arrayBuffer();
  });

  it('by digest → 201 with Location and Docker-Content-Digest', async () => {
    const image = buildImage();
    const res = await pushBuilt(pier.url, 'mf/put', image, image.digest);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, `/v2/mf/put/manifests/${image.digest}`);
    await res.arrayBuffer();
  });

  it('with a subject → 201 with OCI-Subject set to the subject digest (the subject need not exist)', async () => {
    const subject = { mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from('absent subject')), size: 100 };
    const artifact = buildArtifact('application/vnd.example.sig', subject);
    const res = await pushBuilt(pier.url, 'mf/put', artifact);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), subject.digest);
    await res.arrayBuffer();
  });

  it('an index with a subject → 201 with OCI-Subject', async () => {
    const child = await pushImage(pier.url, 'mf/put');
    const subject = { mediaType: OCI_MANIFEST, digest: digestOf(Buffer.from('other subject')), size: 10 };
    const index = buildIndex([child.descriptor], { artifactType: 'application/vnd.example.bundle', subject });
    const res = await putManifest(pier.url, 'mf/put', index.digest, index.body, OCI_INDEX);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('oci-subject'), subject.digest);
    await res.arrayBuffer();
  });

  it('without a Content-Type, the body mediaType decides what GET serves', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/ctype', blob.data);
    const res = await fetch(manifestUrl('mf/ctype', 'untyped'), { method: 'PUT', body: asBody(image.manifest) });
    assert.equal(res.status, 201, await res.text());
    const get = await fetch(manifestUrl('mf/ctype', 'untyped'));
    assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
    assert.deepEqual(await bytes(get), image.manifest);
  });

  it('a body without mediaType is served with the Content-Type it was pushed with', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/ctype', blob.data);
    const json = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    delete json.mediaType;
    const body = Buffer.from(JSON.stringify(json));
    const res = await putManifest(pier.url, 'mf/ctype', 'nomediatype', body, OCI_MANIFEST);
    assert.equal(res.status, 201, await res.text());
    const get = await fetch(manifestUrl('mf/ctype', 'nomediatype'));
    assert.equal(get.headers.get('content-type'), OCI_MANIFEST);
    assert.equal(get.headers.get('docker-content-digest'), digestOf(body));
    assert.deepEqual(await bytes(get), body);
  });

  it('an index whose child exists only in another repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const child = await pushImage(pier.url, 'mf/idx-elsewhere');
    const index = buildIndex([child.descriptor]);
    await expectError(await putManifest(pier.url, 'mf/idx-here', 'v1', index.body, OCI_INDEX), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('a repository name of 255 characters works end to end; 256 → 400 NAME_INVALID', async () => {
    const name = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(name.length, 255);
    const image = await pushImage(pier.url, name, 'long');
    const get = await fetch(manifestUrl(name, 'long'));
    assert.equal(get.status, 200);
    assert.deepEqual(await bytes(get), image.manifest);
    await expectError(await putManifest(pier.url, `${name}c`, 'long', image.manifest, OCI_MANIFEST), 400, 'NAME_INVALID');
  });

  it('pushing again to the same tag moves it', async () => {
    const a = await pushImage(pier.url, 'mf/move', 'latest');
    const b = await pushImage(pier.url, 'mf/move', 'latest');
    const res = await fetch(manifestUrl('mf/move', 'latest'), { method: 'HEAD' });
    assert.equal(res.headers.get('docker-content-digest'), b.digest);
    assert.notEqual(a.digest, b.digest);
    const old = await fetch(manifestUrl('mf/move', a.digest), { method: 'HEAD' });
    assert.equal(old.status, 200, 'the old manifest stays reachable by digest');
  });

  it('the same manifest under several tags', async () => {
    const image = await pushImage(pier.url, 'mf/multi', 'a');
    const res = await putManifest(pier.url, 'mf/multi', 'b', image.manifest, OCI_MANIFEST);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    await res.arrayBuffer();
    assert.deepEqual(await tagsOf('mf/multi'), ['a', 'b']);
  });
});

describe('GET and HEAD a manifest', () => {
  const types: Array<[string, string]> = [
    ['OCI image manifest', OCI_MANIFEST],
    ['Docker schema 2 manifest', DOCKER_MANIFEST],
  ];
  for (const [label, mediaType] of types) {
    it(`${label}: GET by tag and by digest returns the exact bytes, Content-Type and digest headers`, async () => {
      const image = buildImage({ mediaType, indent: 3 });
      const put = await pushBuilt(pier.url, 'mf/get', image, `tag-${mediaType === OCI_MANIFEST ? 'oci' : 'docker'}`);
      assert.equal(put.status, 201);
      await put.arrayBuffer();
      for (const ref of [`tag-${mediaType === OCI_MANIFEST ? 'oci' : 'docker'}`, image.digest]) {
        const res = await fetch(manifestUrl('mf/get', ref), { headers: { Accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}, ${OCI_INDEX}, ${DOCKER_MANIFEST_LIST}` } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), mediaType);
        assert.equal(res.headers.get('docker-content-digest'), image.digest);
        assert.equal(res.headers.get('content-length'), String(image.manifest.length));
        assert.ok(res.headers.get('etag')?.includes(image.digest));
        assert.deepEqual(await bytes(res), image.manifest);

        const head = await fetch(manifestUrl('mf/get', ref), { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal(head.headers.get('content-type'), mediaType);
        assert.equal(head.headers.get('docker-content-digest'), image.digest);
        assert.equal(head.headers.get('content-length'), String(image.manifest.length));
        assert.equal((await head.arrayBuffer()).byteLength, 0);
      }
    });
  }

  it('OCI index and Docker manifest list: pushed over existing children, served with their media type', async () => {
    const c1 = await pushImage(pier.url, 'mf/index');
    const c2 = await pushImage(pier.url, 'mf/index');
    for (const mediaType of [OCI_INDEX, DOCKER_MANIFEST_LIST]) {
      const index = buildIndex([c1.descriptor, c2.descriptor], { mediaType });
      const put = await putManifest(pier.url, 'mf/index', mediaType === OCI_INDEX ? 'oci' : 'docker', index.body, mediaType);
      assert.equal(put.status, 201, await put.text());
      const res = await fetch(manifestUrl('mf/index', mediaType === OCI_INDEX ? 'oci' : 'docker'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), mediaType);
      assert.equal(res.headers.get('docker-content-digest'), index.digest);
      assert.deepEqual(await bytes(res), index.body);
    }
  });

  it('If-None-Match with the ETag → 304 (GET and HEAD); another ETag → 200', async () => {
    const image = await pushImage(pier.url, 'mf/etag', 'v1');
    const first = await fetch(manifestUrl('mf/etag', 'v1'));
    const etag = first.headers.get('etag') ?? '';
    assert.ok(etag.includes(image.digest));
    await first.arrayBuffer();
    for (const method of ['GET', 'HEAD']) {
      for (const ref of ['v1', image.digest]) {
        const res = await fetch(manifestUrl('mf/etag', ref), { method, headers: { 'If-None-Match': etag } });
        assert.equal(res.status, 304, `${method} ${ref}`);
        assert.equal((await res.arrayBuffer()).byteLength, 0);
      }
    }
    const listed = await fetch(manifestUrl('mf/etag', 'v1'), { headers: { 'If-None-Match': `"sha256:${'0'.repeat(64)}", ${etag}` } });
    assert.equal(listed.status, 304);
    const other = await fetch(manifestUrl('mf/etag', 'v1'), { headers: { 'If-None-Match': `"sha256:${'0'.repeat(64)}"` } });
    assert.equal(other.status, 200);
    assert.deepEqual(await bytes(other), image.manifest);
  });

  it('unknown tag or digest → 404 MANIFEST_UNKNOWN; HEAD → 404', async () => {
    await pushImage(pier.url, 'mf/unknown', 'exists');
    await expectError(await fetch(manifestUrl('mf/unknown', 'missing')), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/unknown', digestOf(Buffer.from('x')))), 404, 'MANIFEST_UNKNOWN');
    const head = await fetch(manifestUrl('mf/unknown', 'missing'), { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('a manifest in an unknown repository → 404 (MANIFEST_UNKNOWN or NAME_UNKNOWN)', async () => {
    await expectError(await fetch(manifestUrl('mf/never-pushed', 'latest')), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
  });

  it('a manifest is only visible in the repository it was pushed to', async () => {
    const image = await pushImage(pier.url, 'mf/iso-a', 'v1');
    await pushImage(pier.url, 'mf/iso-b', 'other');
    await expectError(await fetch(manifestUrl('mf/iso-b', image.digest)), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/iso-b', 'v1')), 404, 'MANIFEST_UNKNOWN');
  });

  it('an invalid reference → 400; an invalid name → 400 NAME_INVALID', async () => {
    await expectError(await fetch(manifestUrl('mf/get', '-bad')), 400);
    await expectError(await fetch(manifestUrl('mf/get', 'sha256:123')), 400, 'DIGEST_INVALID');
    await expectError(await fetch(manifestUrl('MF/get', 'latest')), 400, 'NAME_INVALID');
  });
});

describe('PUT errors', () => {
  it('a layer blob unknown to the repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const image = buildImage();
    await pushBlob(pier.url, 'mf/err', image.config); // config present, layer missing
    const res = await putManifest(pier.url, 'mf/err', 'v1', image.manifest, OCI_MANIFEST);
    const errors = await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    assert.ok(JSON.stringify(errors).includes(image.blobs[1]!.digest), 'the missing digest is named in the error');
    await expectError(await fetch(manifestUrl('mf/err', 'v1')), 404, 'MANIFEST_UNKNOWN');
  });

  it('an unknown config blob → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const image = buildImage();
    for (const layer of image.layers) await pushBlob(pier.url, 'mf/err', layer);
    await expectError(await putManifest(pier.url, 'mf/err', 'v2', image.manifest, OCI_MANIFEST), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('blobs that exist only in another repository → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/err-other', blob.data);
    await expectError(await putManifest(pier.url, 'mf/err', 'v3', image.manifest, OCI_MANIFEST), 400, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('an index with an unknown child → 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const known = await pushImage(pier.url, 'mf/err');
    const unknown = buildImage();
    for (const mediaType of [OCI_INDEX, DOCKER_MANIFEST_LIST]) {
      const index = buildIndex([known.descriptor, unknown.descriptor], { mediaType });
      await expectError(await putManifest(pier.url, 'mf/err', 'idx', index.body, mediaType), 400, 'MANIFEST_BLOB_UNKNOWN');
    }
  });

  it('malformed JSON → 400 MANIFEST_INVALID', async () => {
    for (const body of ['{', 'not json', '', '[]', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":']) {
      await expectError(await putManifest(pier.url, 'mf/err', 'bad', Buffer.from(body), OCI_MANIFEST), 400, 'MANIFEST_INVALID');
    }
  });

  it('body mediaType mismatching Content-Type → 400 MANIFEST_INVALID', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/err', blob.data);
    await expectError(await putManifest(pier.url, 'mf/err', 'mismatch', image.manifest, DOCKER_MANIFEST), 400, 'MANIFEST_INVALID');
  });

  it('Docker schema 1 → 400 MANIFEST_INVALID', async () => {
    const schema1 = Buffer.from(JSON.stringify({ schemaVersion: 1, name: 'mf/err', tag: 'old', architecture: 'amd64', fsLayers: [], history: [] }));
    await expectError(await putManifest(pier.url, 'mf/err', 'old', schema1, 'application/vnd.docker.distribution.manifest.v1+prettyjws'), 400, 'MANIFEST_INVALID');
  });

  it('an OCI artifact with the empty config and no artifactType → 400 MANIFEST_INVALID', async () => {
    const artifact = buildArtifact('application/vnd.example');
    for (const blob of artifact.blobs) await pushBlob(pier.url, 'mf/err', blob.data);
    const json = JSON.parse(artifact.manifest.toString()) as Record<string, unknown>;
    delete json.artifactType;
    await expectError(await putManifest(pier.url, 'mf/err', 'art', Buffer.from(JSON.stringify(json)), OCI_MANIFEST), 400, 'MANIFEST_INVALID');
  });

  it('PUT by digest with a body of another digest → 400 DIGEST_INVALID', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/err', blob.data);
    const wrong = digestOf(Buffer.from('not the manifest'));
    await expectError(await putManifest(pier.url, 'mf/err', wrong, image.manifest, OCI_MANIFEST), 400, 'DIGEST_INVALID');
    await expectError(await fetch(manifestUrl('mf/err', wrong)), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/err', image.digest)), 404, 'MANIFEST_UNKNOWN');
  });

  it('PUT by sha512 digest → 201 and GET by that digest', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(pier.url, 'mf/sha512', blob.data);
    const d512 = digestOf(image.manifest, 'sha512');
    const res = await putManifest(pier.url, 'mf/sha512', d512, image.manifest, OCI_MANIFEST);
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), d512);
    const get = await fetch(manifestUrl('mf/sha512', d512));
    assert.equal(get.status, 200);
    assert.deepEqual(await bytes(get), image.manifest);
  });

  for (const tag of ['-leading-dash', '.dot', 'a'.repeat(129), 'with+plus']) {
    it(`invalid tag ${JSON.stringify(tag.slice(0, 20))} → 400`, async () => {
      const image = buildImage();
      for (const blob of image.blobs) await pushBlob(pier.url, 'mf/err', blob.data);
      await expectError(await putManifest(pier.url, 'mf/err', encodeURIComponent(tag), image.manifest, OCI_MANIFEST), 400, ['TAG_INVALID', 'MANIFEST_INVALID']);
    });
  }
});

describe('manifest size limit', () => {
  let small: RunningPier;
  before(async () => {
    small = await startPier({ maxManifestBytes: 2048 });
  });
  after(async () => {
    await stopPier(small);
  });

  function padded(image: ReturnType<typeof buildImage>, total: number): Buffer {
    const json = JSON.parse(image.manifest.toString()) as Record<string, unknown>;
    json.annotations = { pad: '' };
    const base = Buffer.byteLength(JSON.stringify(json));
    json.annotations = { pad: 'x'.repeat(total - base) };
    const body = Buffer.from(JSON.stringify(json));
    assert.equal(body.length, total);
    return body;
  }

  it('a manifest over the limit → 413 MANIFEST_INVALID; exactly at the limit → 201', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(small.url, 'limit/repo', blob.data);
    await expectError(await putManifest(small.url, 'limit/repo', 'big', padded(image, 2049), OCI_MANIFEST), 413, 'MANIFEST_INVALID');
    await expectError(await putManifest(small.url, 'limit/repo', 'huge', padded(image, 200_000), OCI_MANIFEST), 413, 'MANIFEST_INVALID');
    await expectError(await fetch(`${small.url}/v2/limit/repo/manifests/big`), 404, 'MANIFEST_UNKNOWN');
    const ok = await putManifest(small.url, 'limit/repo', 'fits', padded(image, 2048), OCI_MANIFEST);
    assert.equal(ok.status, 201, await ok.text());
  });

  it('an over-limit manifest streamed without Content-Length → 413 MANIFEST_INVALID', async () => {
    const image = buildImage();
    for (const blob of image.blobs) await pushBlob(small.url, 'limit/repo', blob.data);
    const body = padded(image, 10_000);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < body.length; i += 1000) controller.enqueue(body.subarray(i, i + 1000));
        controller.close();
      },
    });
    const res = await fetch(`${small.url}/v2/limit/repo/manifests/streamed`, {
      method: 'PUT',
      headers: { 'Content-Type': OCI_MANIFEST },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await expectError(res, 413, 'MANIFEST_INVALID');
  });
});

describe('DELETE a manifest', () => {
  it('by digest → 202; the manifest and all its tags are gone', async () => {
    const image = await pushImage(pier.url, 'mf/del', 'one');
    const again = await putManifest(pier.url, 'mf/del', 'two', image.manifest, OCI_MANIFEST);
    assert.equal(again.status, 201);
    await again.arrayBuffer();
    const other = await pushImage(pier.url, 'mf/del', 'keep');
    const del = await fetch(manifestUrl('mf/del', image.digest), { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    await expectError(await fetch(manifestUrl('mf/del', image.digest)), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/del', 'one')), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/del', 'two')), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(await tagsOf('mf/del'), ['keep']);
    const kept = await fetch(manifestUrl('mf/del', 'keep'));
    assert.equal(kept.status, 200);
    assert.equal(kept.headers.get('docker-content-digest'), other.digest);
    await kept.arrayBuffer();
    await expectError(await fetch(manifestUrl('mf/del', image.digest), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('by tag → 202; only the tag is gone, the manifest and other tags remain', async () => {
    const image = await pushImage(pier.url, 'mf/deltag', 'x');
    const again = await putManifest(pier.url, 'mf/deltag', 'y', image.manifest, OCI_MANIFEST);
    await again.arrayBuffer();
    const del = await fetch(manifestUrl('mf/deltag', 'x'), { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    await expectError(await fetch(manifestUrl('mf/deltag', 'x')), 404, 'MANIFEST_UNKNOWN');
    const byDigest = await fetch(manifestUrl('mf/deltag', image.digest));
    assert.equal(byDigest.status, 200);
    assert.deepEqual(await bytes(byDigest), image.manifest);
    assert.deepEqual(await tagsOf('mf/deltag'), ['y']);
    await expectError(await fetch(manifestUrl('mf/deltag', 'x'), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('a deleted manifest can be pushed again', async () => {
    const image = await pushImage(pier.url, 'mf/repush', 'v');
    const del = await fetch(manifestUrl('mf/repush', image.digest), { method: 'DELETE' });
    assert.equal(del.status, 202);
    const again = await putManifest(pier.url, 'mf/repush', 'v', image.manifest, OCI_MANIFEST);
    assert.equal(again.status, 201);
    const get = await fetch(manifestUrl('mf/repush', 'v'));
    assert.equal(get.status, 200);
    assert.deepEqual(await bytes(get), image.manifest);
  });

  it('unknown digest or tag → 404 MANIFEST_UNKNOWN; invalid digest → 400 DIGEST_INVALID', async () => {
    await pushImage(pier.url, 'mf/del2', 'v');
    await expectError(await fetch(manifestUrl('mf/del2', digestOf(randomBytes(8))), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/del2', 'nope'), { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    await expectError(await fetch(manifestUrl('mf/del2', 'sha256:12'), { method: 'DELETE' }), 400, 'DIGEST_INVALID');
  });
});

describe('DELETE a manifest when deletes are disabled', () => {
  let ro: RunningPier;
  before(async () => {
    ro = await startPier({ deleteEnabled: false });
  });
  after(async () => {
    await stopPier(ro);
  });

  it('by digest and by tag → 405 UNSUPPORTED, and nothing is removed', async () => {
    const image = await pushImage(ro.url, 'ro/mf', 'v1');
    await expectError(await fetch(`${ro.url}/v2/ro/mf/manifests/${image.digest}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    await expectError(await fetch(`${ro.url}/v2/ro/mf/manifests/v1`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    const get = await fetch(`${ro.url}/v2/ro/mf/manifests/v1`);
    assert.equal(get.status, 200);
    assert.deepEqual(await bytes(get), image.manifest);
  });
});
