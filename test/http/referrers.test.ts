/** `GET /v2/<name>/referrers/<digest>[?artifactType=]`: the OCI 1.1 referrers API. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  buildArtifact,
  buildImage,
  buildIndex,
  digestOf,
  expectError,
  pushBuilt,
  pushImage,
  putManifest,
  stopPier,
  type BuiltImage,
  type Descriptor,
} from '../support/http-fixtures.ts';

let pier: RunningPier;
const REPO = 'ref/app';
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';
const BUNDLE = 'application/vnd.example.bundle.v1';

let subject: BuiltImage;
let sbom: BuiltImage;
let sig1: BuiltImage;
let sig2: BuiltImage;
let plainReferrer: BuiltImage;
let indexReferrer: { body: Buffer; digest: string };

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Array<Descriptor & { artifactType?: string; annotations?: Record<string, string> }>;
}

async function referrers(name: string, digest: string, query = ''): Promise<{ res: Response; index: ReferrersIndex }> {
  const res = await fetch(`${pier.url}/v2/${name}/referrers/${digest}${query}`);
  const text = await res.text();
  assert.equal(res.status, 200, `${res.status} ${text}`);
  assert.equal(res.headers.get('content-type'), OCI_INDEX);
  const index = JSON.parse(text) as ReferrersIndex;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, OCI_INDEX);
  assert.ok(Array.isArray(index.manifests));
  return { res, index };
}

async function pushOk(name: string, image: BuiltImage, reference?: string): Promise<Response> {
  const res = await pushBuilt(pier.url, name, image, reference);
  assert.equal(res.status, 201, await res.clone().text());
  await res.arrayBuffer();
  return res;
}

before(async () => {
  pier = await startPier();
  subject = await pushImage(pier.url, REPO, 'v1');
  sbom = buildArtifact(SBOM, subject.descriptor, { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'org.example.tool': 'syft' });
  sig1 = buildArtifact(SIG, subject.descriptor, { 'org.example.signer': 'alice' });
  sig2 = buildArtifact(SIG, subject.descriptor);
  // An image manifest with a subject but no artifactType: its artifactType is the config media type.
  plainReferrer = buildImage({ subject: subject.descriptor });
  for (const image of [sbom, sig1, sig2, plainReferrer]) await pushOk(REPO, image);
  const child = await pushImage(pier.url, REPO);
  indexReferrer = buildIndex([child.descriptor], { artifactType: BUNDLE, subject: subject.descriptor, annotations: { 'org.example.kind': 'bundle' } });
  const res = await putManifest(pier.url, REPO, indexReferrer.digest, indexReferrer.body, OCI_INDEX);
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('oci-subject'), subject.digest);
  await res.arrayBuffer();
});
after(async () => {
  await stopPier(pier);
});

describe('referrers', () => {
  it('a digest with no referrers → 200 with an empty OCI index', async () => {
    const { res, index } = await referrers(REPO, digestOf(Buffer.from('nothing refers to me')));
    assert.deepEqual(index.manifests, []);
    assert.equal(res.headers.get('oci-filters-applied'), null);
  });

  it('an unknown repository → 200 with an empty OCI index (never 404)', async () => {
    const { index } = await referrers('ref/none', subject.digest);
    assert.deepEqual(index.manifests, []);
  });

  it('lists every referrer with mediaType, digest, size, artifactType and annotations', async () => {
    const { res, index } = await referrers(REPO, subject.digest);
    assert.equal(res.headers.get('oci-filters-applied'), null);
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    assert.equal(index.manifests.length, 5);
    assert.equal(byDigest.size, 5, 'no duplicates');

    const s = byDigest.get(sbom.digest);
    assert.ok(s, 'the SBOM is listed');
    assert.equal(s.mediaType, OCI_MANIFEST);
    assert.equal(s.size, sbom.manifest.length);
    assert.equal(s.artifactType, SBOM);
    assert.deepEqual(s.annotations, { 'org.opencontainers.image.created': '2024-05-01T00:00:00Z', 'org.example.tool': 'syft' });

    const a = byDigest.get(sig1.digest);
    assert.equal(a?.artifactType, SIG);
    assert.deepEqual(a?.annotations, { 'org.example.signer': 'alice' });
    const b = byDigest.get(sig2.digest);
    assert.equal(b?.artifactType, SIG);
    assert.ok(b?.annotations === undefined || Object.keys(b.annotations).length === 0);

    const p = byDigest.get(plainReferrer.digest);
    assert.equal(p?.artifactType, OCI_CONFIG, 'without artifactType, the config media type is used');
    assert.equal(p?.size, plainReferrer.manifest.length);

    const i = byDigest.get(indexReferrer.digest);
    assert.equal(i?.mediaType, OCI_INDEX);
    assert.equal(i?.artifactType, BUNDLE);
    assert.equal(i?.size, indexReferrer.body.length);
    assert.deepEqual(i?.annotations, { 'org.example.kind': 'bundle' });
  });

  it('?artifactType= filters and sets OCI-Filters-Applied: artifactType', async () => {
    const { res, index } = await referrers(REPO, subject.digest, `?artifactType=${encodeURIComponent(SIG)}`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests.map((m) => m.digest).sort(), [sig1.digest, sig2.digest].sort());
    assert.ok(index.manifests.every((m) => m.artifactType === SIG));

    const cfg = await referrers(REPO, subject.digest, `?artifactType=${encodeURIComponent(OCI_CONFIG)}`);
    assert.deepEqual(cfg.index.manifests.map((m) => m.digest), [plainReferrer.digest]);

    const bundles = await referrers(REPO, subject.digest, `?artifactType=${encodeURIComponent(BUNDLE)}`);
    assert.deepEqual(bundles.index.manifests.map((m) => m.digest), [indexReferrer.digest]);
  });

  it('a filter that matches nothing → empty index, still with OCI-Filters-Applied', async () => {
    const { res, index } = await referrers(REPO, subject.digest, `?artifactType=${encodeURIComponent('application/vnd.example.none')}`);
    assert.deepEqual(index.manifests, []);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
  });

  it('a referrer whose subject does not exist yet is accepted and listed', async () => {
    const future = buildImage(); // never pushed
    const early = buildArtifact(SBOM, future.descriptor, { early: 'yes' });
    const res = await pushOk(REPO, early);
    assert.equal(res.headers.get('oci-subject'), future.digest);
    const before = await referrers(REPO, future.digest);
    assert.deepEqual(before.index.manifests.map((m) => m.digest), [early.digest]);
    // The subject arriving later does not change that.
    await pushOk(REPO, future, 'future');
    const after = await referrers(REPO, future.digest);
    assert.deepEqual(after.index.manifests.map((m) => m.digest), [early.digest]);
    assert.deepEqual(after.index.manifests[0]!.annotations, { early: 'yes' });
  });

  it('referrers are per repository', async () => {
    const other = 'ref/other';
    const foreign = buildArtifact(SIG, subject.descriptor);
    await pushOk(other, foreign);
    const here = await referrers(REPO, subject.digest);
    assert.ok(!here.index.manifests.some((m) => m.digest === foreign.digest));
    const there = await referrers(other, subject.digest);
    assert.deepEqual(there.index.manifests.map((m) => m.digest), [foreign.digest]);
  });

  it('a deleted referrer is no longer listed', async () => {
    const target = await pushImage(pier.url, 'ref/del', 'v1');
    const gone = buildArtifact(SIG, target.descriptor);
    const stays = buildArtifact(SBOM, target.descriptor);
    await pushOk('ref/del', gone);
    await pushOk('ref/del', stays);
    const del = await fetch(`${pier.url}/v2/ref/del/manifests/${gone.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    const { index } = await referrers('ref/del', target.digest);
    assert.deepEqual(index.manifests.map((m) => m.digest), [stays.digest]);
  });

  it('a sha512 subject digest is accepted', async () => {
    const { index } = await referrers(REPO, digestOf(Buffer.from('x'), 'sha512'));
    assert.deepEqual(index.manifests, []);
  });

  for (const bad of ['sha256:abc', `md5:${'a'.repeat(32)}`, 'latest', `sha256:${'A'.repeat(64)}`]) {
    it(`an invalid digest ${bad.slice(0, 16)} → 400 DIGEST_INVALID`, async () => {
      await expectError(await fetch(`${pier.url}/v2/${REPO}/referrers/${bad}`), 400, 'DIGEST_INVALID');
    });
  }

  it('an invalid repository name → 400 NAME_INVALID', async () => {
    await expectError(await fetch(`${pier.url}/v2/Ref/App/referrers/${subject.digest}`), 400, 'NAME_INVALID');
  });
});
