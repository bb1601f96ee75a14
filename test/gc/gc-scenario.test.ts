/**
 * Garbage collection on a hand-built store: shared layers across repositories, index children,
 * referrers, untagged and deleted manifests. Exactly the unreferenced blobs go; everything else pulls.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startPier, type RunningPier } from '../support/pier.ts';
import { buildArtifact, buildImage, buildIndex, digestOf, pushBlob, pushBuilt, putManifest, bytes, type BuiltImage } from '../support/http-fixtures.ts';
import { openRegistry } from '../../src/main/open-registry.ts';
import { collectGarbage, type GcOptions } from '../../src/registry/gc/collect-garbage.ts';
import { createLogger } from '../../src/observability/logger.ts';

async function push(pier: RunningPier, repo: string, image: BuiltImage, reference: string): Promise<void> {
  const res = await pushBuilt(pier.url, repo, image, reference);
  assert.equal(res.status, 201, await res.text());
}

async function blobStatus(pier: RunningPier, repo: string, digest: string): Promise<number> {
  return (await fetch(`${pier.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

/** Pulls an image completely and checks every byte. */
async function assertPullable(pier: RunningPier, repo: string, image: BuiltImage): Promise<void> {
  const manifest = await fetch(`${pier.url}/v2/${repo}/manifests/${image.digest}`);
  assert.equal(manifest.status, 200, `${repo}@${image.digest}`);
  assert.equal(digestOf(await bytes(manifest)), image.digest);
  for (const blob of image.blobs) {
    const res = await fetch(`${pier.url}/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(res.status, 200, `${repo} blob ${blob.digest}`);
    assert.equal(digestOf(await bytes(res)), blob.digest);
  }
}

describe('garbage collection removes exactly the unreferenced blobs', () => {
  let pier: RunningPier;
  const shared = randomBytes(300);
  const img1 = buildImage({ layers: [shared, randomBytes(100)] });
  const img2 = buildImage({ layers: [shared, randomBytes(100)] });
  const img3 = buildImage({ layers: [randomBytes(100)] }); // a/app:v2, then overwritten → untagged
  const img4 = buildImage({ layers: [randomBytes(100)] }); // a/app:v2 now
  const img5 = buildImage({ layers: [randomBytes(100)] }); // only a child of the index
  const index = buildIndex([img1.descriptor, img5.descriptor]);
  const sig = buildArtifact('application/vnd.example.signature', img1.descriptor); // referrer of a tagged image
  const orphanSig = buildArtifact('application/vnd.example.signature', img3.descriptor); // referrer of an untagged one
  const lonely = randomBytes(500); // uploaded, never referenced

  const gc = async (options: Partial<GcOptions>) => {
    const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') }); // a second handle, like `pier gc`
    try {
      return await collectGarbage(opened.storage, opened.index, {
        gracePeriodMs: 0,
        deleteUntagged: false,
        keepReferrers: true,
        dryRun: false,
        now: new Date(Date.now() + 5_000), // everything counts as older than the grace period
        ...options,
      });
    } finally {
      await opened.close();
    }
  };

  before(async () => {
    pier = await startPier({ deleteEnabled: true });
    await push(pier, 'a/app', img1, 'v1');
    await push(pier, 'b/app', img2, 'v1');
    await push(pier, 'a/app', img3, 'v2');
    await push(pier, 'a/app', img4, 'v2');
    await push(pier, 'a/app', img5, img5.digest);
    assert.equal((await putManifest(pier.url, 'a/app', 'multi', index.body, index.mediaType)).status, 201);
    await push(pier, 'a/app', sig, sig.digest);
    await push(pier, 'a/app', orphanSig, orphanSig.digest);
    await pushBlob(pier.url, 'c/app', lonely);
    assert.equal((await fetch(`${pier.url}/v2/b/app/manifests/${img2.digest}`, { method: 'DELETE' })).status, 202);
  });
  after(() => pier.close());

  it('a dry run lists what would go and changes nothing', async () => {
    const report = await gc({ dryRun: true });
    const gone = new Set(report.blobsDeleted.map((b) => b.digest));
    const img2Only = img2.blobs.filter((b) => b.digest !== digestOf(shared)).map((b) => b.digest);
    assert.deepEqual(gone, new Set([digestOf(lonely), img2.digest, ...img2Only]));
    assert.equal(report.bytesFreed, lonely.length + img2.manifest.length + img2.blobs.filter((b) => img2Only.includes(b.digest)).reduce((n, b) => n + b.data.length, 0));
    assert.equal(await blobStatus(pier, 'c/app', digestOf(lonely)), 200, 'nothing was deleted');
  });

  it('without --delete-untagged: deletes the unreferenced blobs and the deleted manifest, keeps every manifest\'s blobs', async () => {
    const report = await gc({});
    const gone = new Set(report.blobsDeleted.map((b) => b.digest));
    assert.ok(gone.has(digestOf(lonely)));
    assert.ok(gone.has(img2.digest), 'the deleted manifest\'s bytes');
    assert.ok(!gone.has(digestOf(shared)), 'a layer shared with a live image stays');
    assert.equal(await blobStatus(pier, 'c/app', digestOf(lonely)), 404);
    for (const image of [img1, img3, img4, img5, sig, orphanSig]) await assertPullable(pier, 'a/app', image);
    assert.equal((await fetch(`${pier.url}/v2/a/app/manifests/multi`)).status, 200);
  });

  it('with --delete-untagged: deletes untagged manifests no tag reaches (and their referrers), keeps index children and referrers of tagged images', async () => {
    const dry = await gc({ deleteUntagged: true, dryRun: true });
    const report = await gc({ deleteUntagged: true });
    assert.deepEqual(new Set(report.manifestsDeleted.map((m) => m.digest)), new Set([img3.digest, orphanSig.digest]));
    assert.deepEqual(new Set(dry.manifestsDeleted.map((m) => m.digest)), new Set([img3.digest, orphanSig.digest]));
    assert.deepEqual(new Set(dry.blobsDeleted.map((b) => b.digest)), new Set(report.blobsDeleted.map((b) => b.digest)), 'the dry run counted the blobs only the untagged manifests hold');
    assert.equal(dry.bytesFreed, report.bytesFreed);
    const gone = new Set(report.blobsDeleted.map((b) => b.digest));
    for (const blob of [...img3.blobs, ...orphanSig.blobs.filter((b) => b.data.length > 2)]) assert.ok(gone.has(blob.digest), `blob ${blob.digest} of an untagged image`);
    assert.equal((await fetch(`${pier.url}/v2/a/app/manifests/${img3.digest}`)).status, 404);
    for (const image of [img1, img4, img5, sig]) await assertPullable(pier, 'a/app', image);
    const referrers = (await (await fetch(`${pier.url}/v2/a/app/referrers/${img1.digest}`)).json()) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(referrers.manifests.map((m) => m.digest), [sig.digest]);
  });

  it('a second run finds nothing more to delete', async () => {
    const report = await gc({ deleteUntagged: true });
    assert.equal(report.blobsDeleted.length, 0);
    assert.equal(report.manifestsDeleted.length, 0);
  });

  it('keeps everything within the grace period', async () => {
    const fresh = randomBytes(200);
    await pushBlob(pier.url, 'c/app', fresh);
    const report = await gc({ gracePeriodMs: 60_000, now: new Date() });
    assert.equal(report.blobsDeleted.length, 0);
    assert.equal(await blobStatus(pier, 'c/app', digestOf(fresh)), 200);
  });
});
