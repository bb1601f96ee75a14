/**
 * The one suite every metadata-index backend passes (SQLite now, PostgreSQL later).
 * Call it from a test file with a factory giving a fresh, empty index.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestWrite, MetadataIndex } from '../../registry/ports.ts';
import { MediaType } from '../../registry/model/media-types.ts';

export interface IndexFixture {
  index: MetadataIndex;
  cleanup(): Promise<void>;
}

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function manifest(repository: string, digest: string, extra: Partial<ManifestWrite> = {}): ManifestWrite {
  return { repository, digest, mediaType: MediaType.ociManifest, size: 100, blobs: [d(1000)], children: [], ...extra };
}

export function runIndexSuite(name: string, create: () => Promise<IndexFixture>): void {
  describe(`metadata index contract: ${name}`, () => {
    let fixture: IndexFixture;
    let index: MetadataIndex;
    beforeEach(async () => {
      fixture = await create();
      index = fixture.index;
    });
    afterEach(() => fixture.cleanup());

    it('links blobs per repository', async () => {
      await index.addBlob('a/app', d(1), 10);
      assert.equal(await index.repositoryBlobSize('a/app', d(1)), 10);
      assert.equal(await index.repositoryBlobSize('b/app', d(1)), undefined);
      assert.deepEqual(await index.missingBlobs('a/app', [d(1), d(2)]), [d(2)]);
      assert.equal(await index.removeBlob('a/app', d(1)), true);
      assert.equal(await index.removeBlob('a/app', d(1)), false);
      assert.equal(await index.repositoryBlobSize('a/app', d(1)), undefined);
    });

    it('records a manifest and moves a tag atomically', async () => {
      await index.putManifest(manifest('app', d(10), { tag: 'v1' }));
      assert.deepEqual(await index.resolveTag('app', 'v1'), { digest: d(10), mediaType: MediaType.ociManifest, size: 100 });
      await index.putManifest(manifest('app', d(11), { tag: 'v1', size: 200 }));
      assert.equal((await index.resolveTag('app', 'v1'))?.digest, d(11));
      assert.equal((await index.getManifest('app', d(10)))?.size, 100, 'the old manifest stays, untagged');
      assert.deepEqual(await index.missingManifests('app', [d(10), d(11), d(12)]), [d(12)]);
    });

    it('putting the same manifest twice is harmless', async () => {
      await index.putManifest(manifest('app', d(10), { tag: 'a' }));
      await index.putManifest(manifest('app', d(10), { tag: 'b' }));
      assert.deepEqual(await index.listTags('app', undefined, 10), ['a', 'b']);
    });

    it('deleting a manifest removes its tags and reports them', async () => {
      await index.putManifest(manifest('app', d(10), { tag: 'a' }));
      await index.putManifest(manifest('app', d(10), { tag: 'b' }));
      await index.putManifest(manifest('app', d(11), { tag: 'c' }));
      assert.deepEqual(await index.deleteManifest('app', d(10)), ['a', 'b']);
      assert.equal(await index.deleteManifest('app', d(10)), undefined);
      assert.deepEqual(await index.listTags('app', undefined, 10), ['c']);
      assert.equal(await index.getManifest('app', d(10)), undefined);
    });

    it('deletes a tag alone', async () => {
      await index.putManifest(manifest('app', d(10), { tag: 'a' }));
      assert.equal(await index.deleteTag('app', 'a'), true);
      assert.equal(await index.deleteTag('app', 'a'), false);
      assert.ok(await index.getManifest('app', d(10)));
    });

    it('pages tags and repositories in byte order', async () => {
      const tags = ['B', 'a', 'a-1', 'a.1', 'a_1', 'latest', 'v1', 'v10', 'v2'];
      for (const tag of tags) await index.putManifest(manifest('app', d(10), { tag }));
      const sorted = [...tags].sort();
      assert.deepEqual(await index.listTags('app', undefined, 100), sorted);
      assert.deepEqual(await index.listTags('app', undefined, 3), sorted.slice(0, 3));
      assert.deepEqual(await index.listTags('app', sorted[2], 3), sorted.slice(3, 6));
      assert.equal(await index.listTags('missing', undefined, 3), undefined);
      for (const repo of ['z', 'a/b', 'a-b', 'a']) await index.addBlob(repo, d(1), 1);
      assert.deepEqual(await index.listRepositories(undefined, 10), ['a', 'a-b', 'a/b', 'app', 'z']);
      assert.deepEqual(await index.listRepositories('a-b', 2), ['a/b', 'app']);
      assert.equal(await index.repositoryExists('a/b'), true);
      assert.equal(await index.repositoryExists('a/c'), false);
    });

    it('finds referrers by subject, filtered by artifact type', async () => {
      const subject = d(50);
      await index.putManifest(manifest('app', d(60), { subject, artifactType: 'application/vnd.example.sbom', annotations: { 'x': 'y' } }));
      await index.putManifest(manifest('app', d(61), { subject, artifactType: 'application/vnd.example.sig' }));
      await index.putManifest(manifest('other', d(62), { subject, artifactType: 'application/vnd.example.sig' }));
      const all = await index.listReferrers('app', subject);
      assert.deepEqual(all.map((r) => r.digest), [d(60), d(61)]);
      assert.deepEqual(all[0]?.annotations, { x: 'y' });
      const sigs = await index.listReferrers('app', subject, 'application/vnd.example.sig');
      assert.deepEqual(sigs.map((r) => r.digest), [d(61)]);
      assert.deepEqual(await index.listReferrers('app', d(51)), []);
      await index.deleteManifest('app', d(60));
      assert.deepEqual((await index.listReferrers('app', subject)).map((r) => r.digest), [d(61)]);
    });

    it('clear empties everything', async () => {
      await index.putManifest(manifest('app', d(10), { tag: 'a' }));
      await index.addBlob('app', d(1), 1);
      await index.clear();
      assert.deepEqual(await index.listRepositories(undefined, 10), []);
      assert.equal(await index.resolveTag('app', 'a'), undefined);
    });
  });
}
