/**
 * The one suite every metadata-index backend passes (SQLite, and PostgreSQL in metadata-index-postgres.test.ts).
 * Call it from a test file with a factory giving a fresh, empty index.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestWrite, MetadataIndex } from '../../registry/ports.ts';
import { MediaType } from '../../registry/model/media-types.ts';
import type { EventLog } from '../../events/event-log.ts';
import { runEventLogSuite } from './event-log-suite.ts';

export interface IndexFixture {
  index: MetadataIndex;
  /** The backend's event log over the same database (events/event-log.ts); its suite fails without it. */
  eventLog?: EventLog;
  cleanup(): Promise<void>;
  /**
   * Takes the upload lock `id` for `owner` from ANOTHER process on this index, then kills that process
   * (SIGKILL). Absent only for a backend no second process can open (SQLite in memory).
   */
  lockFromKilledProcess?(id: string, owner: string): Promise<void>;
}

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function manifest(repository: string, digest: string, extra: Partial<ManifestWrite> = {}): ManifestWrite {
  return { repository, digest, mediaType: MediaType.ociManifest, size: 100, blobs: [d(1000)], children: [], ...extra };
}

/** Records a manifest without checking its references (they are not the point of most tests). */
async function put(index: MetadataIndex, write: ManifestWrite): Promise<void> {
  assert.deepEqual(await index.putManifest(write, { trustReferences: true }), { kind: 'stored' });
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

    runEventLogSuite(() => ({ index, eventLog: fixture.eventLog }));

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
      await put(index, manifest('app', d(10), { tag: 'v1' }));
      assert.deepEqual(await index.resolveTag('app', 'v1'), { digest: d(10), mediaType: MediaType.ociManifest, size: 100 });
      await put(index, manifest('app', d(11), { tag: 'v1', size: 200 }));
      assert.equal((await index.resolveTag('app', 'v1'))?.digest, d(11));
      assert.equal((await index.getManifest('app', d(10)))?.size, 100, 'the old manifest stays, untagged');
      assert.deepEqual(await index.missingManifests('app', [d(10), d(11), d(12)]), [d(12)]);
    });

    it('an immutable tag is created once and never moved, checked inside the transaction', async () => {
      const write = (n: number) => index.putManifest(manifest('app', d(n), { tag: 'v1', tagImmutable: true }), { trustReferences: true });
      const results = await Promise.all([write(10), write(11)]);
      const stored = results.filter((r) => r.kind === 'stored');
      assert.equal(stored.length, 1, `exactly one first push wins: ${JSON.stringify(results)}`);
      const winner = (await index.resolveTag('app', 'v1'))!.digest;
      const loser = results.find((r) => r.kind === 'immutable');
      assert.deepEqual(loser, { kind: 'immutable', current: winner });
      assert.deepEqual(await write(winner === d(10) ? 10 : 11), { kind: 'stored' }, 'the same manifest again is fine');
      assert.deepEqual(await write(12), { kind: 'immutable', current: winner });
      assert.equal((await index.resolveTag('app', 'v1'))!.digest, winner);
    });

    it('putting the same manifest twice is harmless', async () => {
      await put(index, manifest('app', d(10), { tag: 'a' }));
      await put(index, manifest('app', d(10), { tag: 'b' }));
      assert.deepEqual(await index.listTags('app', undefined, 10), ['a', 'b']);
    });

    it('deleting a manifest removes its tags and reports them', async () => {
      await put(index, manifest('app', d(10), { tag: 'a' }));
      await put(index, manifest('app', d(10), { tag: 'b' }));
      await put(index, manifest('app', d(11), { tag: 'c' }));
      assert.deepEqual(await index.deleteManifest('app', d(10)), ['a', 'b']);
      assert.equal(await index.deleteManifest('app', d(10)), undefined);
      assert.deepEqual(await index.listTags('app', undefined, 10), ['c']);
      assert.equal(await index.getManifest('app', d(10)), undefined);
    });

    it('deletes a tag alone', async () => {
      await put(index, manifest('app', d(10), { tag: 'a' }));
      assert.equal(await index.deleteTag('app', 'a'), true);
      assert.equal(await index.deleteTag('app', 'a'), false);
      assert.ok(await index.getManifest('app', d(10)));
    });

    it('pages tags and repositories in byte order', async () => {
      const tags = ['B', 'a', 'a-1', 'a.1', 'a_1', 'latest', 'v1', 'v10', 'v2'];
      for (const tag of tags) await put(index, manifest('app', d(10), { tag }));
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
      await put(index, manifest('app', d(60), { subject, artifactType: 'application/vnd.example.sbom', annotations: { 'x': 'y' } }));
      await put(index, manifest('app', d(61), { subject, artifactType: 'application/vnd.example.sig' }));
      await put(index, manifest('other', d(62), { subject, artifactType: 'application/vnd.example.sig' }));
      const all = await index.listReferrers('app', subject);
      assert.deepEqual(all.map((r) => r.digest), [d(60), d(61)]);
      assert.deepEqual(all[0]?.annotations, { x: 'y' });
      const sigs = await index.listReferrers('app', subject, 'application/vnd.example.sig');
      assert.deepEqual(sigs.map((r) => r.digest), [d(61)]);
      assert.deepEqual(await index.listReferrers('app', d(51)), []);
      await index.deleteManifest('app', d(60));
      assert.deepEqual((await index.listReferrers('app', subject)).map((r) => r.digest), [d(61)]);
    });

    it('checks references inside the manifest transaction', async () => {
      const write = manifest('app', d(10), { blobs: [d(1), d(2)], children: [d(20)] });
      assert.deepEqual(await index.putManifest(write), { kind: 'missing', digests: [d(1), d(2), d(20)] });
      await index.addBlob('app', d(1), 1);
      await index.addBlob('app', d(2), 1);
      await index.addBlob('other', d(20), 1);
      assert.deepEqual(await index.putManifest(write), { kind: 'missing', digests: [d(20)] }, 'a child must be a manifest of the same repository');
      await put(index, manifest('app', d(20), { blobs: [d(1)] }));
      assert.deepEqual(await index.putManifest(write), { kind: 'stored' });
      assert.equal(await index.getManifest('app', d(10)).then((m) => m?.size), 100);
    });

    it('a manifest may reference the same blob twice (repeated empty layers)', async () => {
      await index.addBlob('app', d(1), 1);
      assert.deepEqual(await index.putManifest(manifest('app', d(10), { blobs: [d(1), d(1)], tag: 'v1' })), { kind: 'stored' });
      assert.equal(await index.isBlobLive(d(1), new Date(Date.now() + 60_000)), true);
      await index.importRepository('copy', { blobs: [{ digest: d(1), size: 1 }, { digest: d(1), size: 1 }], manifests: [{ digest: d(10), mediaType: MediaType.ociManifest, size: 100, blobs: [d(1), d(1)], children: [] }], tags: [{ tag: 'v1', digest: d(10) }] });
      assert.equal((await index.resolveTag('copy', 'v1'))?.digest, d(10));
    });

    it('a blob being deleted cannot be linked or stored as a manifest until the deletion ends', async () => {
      const future = new Date(Date.now() + 60_000); // every link counts as old
      await index.addBlob('app', d(1), 1);
      assert.equal(await index.isBlobLive(d(1), future), false);
      assert.deepEqual(await index.beginBlobDeletions([d(1)], future), new Map([[d(1), ['app']]]));
      assert.equal(await index.repositoryBlobSize('app', d(1)), undefined, 'its links are gone');
      assert.deepEqual(await index.beginBlobDeletions([d(1)], future), new Map(), 'a second collector does not take it');
      assert.equal(await index.addBlob('other', d(1), 1), 'deleting');
      assert.deepEqual(await index.putManifest(manifest('app', d(1), { blobs: [] })), { kind: 'deleting' });
      await index.endBlobDeletions([d(1)]);
      assert.equal(await index.addBlob('other', d(1), 1), 'linked');
    });

    it('keeps a blob that a manifest references or that was linked within the grace period', async () => {
      const past = new Date(Date.now() - 60_000);
      const future = new Date(Date.now() + 60_000);
      await index.addBlob('app', d(1), 1);
      assert.equal(await index.isBlobLive(d(1), past), true, 'a fresh link is within the grace period');
      assert.deepEqual(await index.beginBlobDeletions([d(1)], past), new Map());
      await index.addBlob('app', d(2), 1);
      await put(index, manifest('app', d(10), { blobs: [d(2)] }));
      assert.equal(await index.isBlobLive(d(2), future), true, 'referenced by a manifest');
      assert.equal(await index.isBlobLive(d(10), future), true, 'a manifest itself');
      assert.deepEqual(await index.beginBlobDeletions([d(2)], future), new Map());
      assert.deepEqual(await index.unusedLayerLinks(future), [{ repository: 'app', digest: d(1) }]);
      assert.deepEqual(await index.removeLayerLinksIfUnused([{ repository: 'app', digest: d(2) }, { repository: 'app', digest: d(1) }], future), [{ repository: 'app', digest: d(1) }], 'a used link stays');
    });

    it('finds manifests no tag reaches, through index children and referrers', async () => {
      const future = new Date(Date.now() + 60_000);
      await put(index, manifest('app', d(11)));
      await put(index, manifest('app', d(12)));
      await put(index, manifest('app', d(10), { mediaType: MediaType.ociIndex, blobs: [], children: [d(11)], tag: 'latest' }));
      await put(index, manifest('app', d(13), { subject: d(10), artifactType: 'application/vnd.example.sig' }));
      await put(index, manifest('app', d(14), { subject: d(12), artifactType: 'application/vnd.example.sig' }));
      const withReferrers = await index.unreachableManifests(future, true);
      assert.deepEqual(withReferrers.map((m) => m.digest), [d(12), d(14)]);
      const without = await index.unreachableManifests(future, false);
      assert.deepEqual(without.map((m) => m.digest), [d(12), d(13), d(14)]);
      assert.deepEqual(await index.unreachableManifests(new Date(Date.now() - 60_000), true), [], 'all within the grace period');
      assert.deepEqual(await index.deleteManifestsIfUnreachable([{ repository: 'app', digest: d(11) }, { repository: 'app', digest: d(12) }], future, true), [{ repository: 'app', digest: d(12) }], 'a child of a tagged index stays');
      await put(index, manifest('app', d(14), { subject: d(12), tag: 'sig' }));
      assert.deepEqual(await index.deleteManifestsIfUnreachable([{ repository: 'app', digest: d(14) }], future, true), [], 'tagged since it was listed');
    });

    it('lists tags with their times, newest first', async () => {
      await put(index, manifest('app', d(10), { tag: 'old' }));
      await new Promise((r) => setTimeout(r, 5));
      await put(index, manifest('app', d(11), { tag: 'new' }));
      const records = await index.tagRecords('app');
      assert.deepEqual(records.map((r) => [r.tag, r.digest]), [['new', d(11)], ['old', d(10)]]);
      assert.ok(records[0]!.updatedAt.getTime() >= records[1]!.updatedAt.getTime());
      assert.deepEqual(await index.tagRecords('missing'), []);
    });

    it('measures usage per repository and per namespace, each blob once', async () => {
      await index.addBlob('team/a', d(1), 100);
      await index.addBlob('team/b', d(1), 100);
      await index.addBlob('team/b', d(2), 50);
      await index.addBlob('team', d(3), 7);
      await index.addBlob('teamx/c', d(4), 1000);
      await index.addBlob('team_y/c', d(5), 1000);
      assert.equal(await index.usage({ repository: 'team/b' }), 150);
      assert.equal(await index.usage({ namespace: 'team' }), 157);
      assert.equal(await index.usage({ namespace: 'nobody' }), 0);
      assert.equal(await index.blobInScope({ namespace: 'team' }, d(2)), true);
      assert.equal(await index.blobInScope({ namespace: 'team' }, d(4)), false);
      assert.equal(await index.blobInScope({ repository: 'team/a' }, d(2)), false);
    });

    it('imports a whole repository found in storage in one go', async () => {
      await index.importRepository('imported/app', {
        blobs: [{ digest: d(1), size: 10 }],
        manifests: [{ digest: d(10), mediaType: MediaType.ociManifest, size: 100, blobs: [d(1)], children: [], subject: d(9), artifactType: 'application/x' }],
        tags: [{ tag: 'v1', digest: d(10) }, { tag: 'dangling', digest: d(11) }],
      });
      assert.equal(await index.repositoryBlobSize('imported/app', d(1)), 10);
      assert.equal((await index.resolveTag('imported/app', 'v1'))?.digest, d(10));
      assert.deepEqual(await index.listTags('imported/app', undefined, 10), ['v1'], 'a tag whose manifest is not imported is left out');
      assert.deepEqual((await index.listReferrers('imported/app', d(9))).map((r) => r.digest), [d(10)]);
      assert.equal(await index.isBlobLive(d(1), new Date(Date.now() + 60_000)), true, 'references are recorded');
    });

    it('re-imports a repository with replaceOlderThan: storage wins over older rows, newer rows stay, fingerprints are kept', async () => {
      const m = (n: number) => ({ digest: d(n), mediaType: MediaType.ociManifest, size: 100, blobs: [d(1)], children: [] });
      await index.importRepository('app', { blobs: [{ digest: d(1), size: 10 }, { digest: d(2), size: 20 }], manifests: [m(10), m(11)], tags: [{ tag: 'a', digest: d(10) }, { tag: 'b', digest: d(11) }] }, { fingerprint: 'fp-1' });
      assert.deepEqual(await index.storageFingerprints(), new Map([['app', 'fp-1']]));
      await new Promise((r) => setTimeout(r, 5));
      const storageChangedAt = new Date();
      await new Promise((r) => setTimeout(r, 5));
      await put(index, manifest('app', d(12), { tag: 'fresh' })); // written after storage last changed (a running Pier)
      // Storage now: manifest 11 deleted, tag a moved to 13 (new), link 2 gone.
      await index.importRepository('app', { blobs: [{ digest: d(1), size: 10 }], manifests: [m(10), m(13)], tags: [{ tag: 'a', digest: d(13) }] }, { replaceOlderThan: storageChangedAt, fingerprint: 'fp-2' });
      assert.equal((await index.resolveTag('app', 'a'))?.digest, d(13), 'the moved tag follows storage');
      assert.equal(await index.getManifest('app', d(11)), undefined, 'the deleted manifest is gone, and its tag');
      assert.deepEqual(await index.listTags('app', undefined, 10), ['a', 'fresh'], 'the newer tag stays');
      assert.ok(await index.getManifest('app', d(12)), 'the newer manifest stays');
      assert.equal(await index.repositoryBlobSize('app', d(2)), undefined, 'the removed link is gone');
      assert.equal((await index.storageFingerprints()).get('app'), 'fp-2');
      // A repository storage no longer has, and nothing newer: forgotten.
      await index.importRepository('gone', { blobs: [{ digest: d(1), size: 10 }], manifests: [m(20)], tags: [{ tag: 'x', digest: d(20) }] });
      await new Promise((r) => setTimeout(r, 5));
      await index.importRepository('gone', { blobs: [], manifests: [], tags: [] }, { replaceOlderThan: new Date() });
      assert.equal(await index.repositoryExists('gone'), false);
      assert.deepEqual(await index.listRepositories(undefined, 10), ['app']);
    });

    it('records when storage was checked per repository and for a whole pass, keeping the latest time', async () => {
      assert.equal(await index.storageCheckedAt('app'), undefined);
      await index.recordStorageChecks(['app', 'tools/x', '*'], 1_700_000_000_123);
      assert.equal(await index.storageCheckedAt('app'), 1_700_000_000_123);
      assert.equal(await index.storageCheckedAt('*'), 1_700_000_000_123);
      await index.recordStorageChecks(['app'], 1_700_000_000_000); // an older check (another process) never moves it back
      assert.equal(await index.storageCheckedAt('app'), 1_700_000_000_123);
      await index.recordStorageChecks(['app'], 1_800_000_000_000);
      assert.equal(await index.storageCheckedAt('app'), 1_800_000_000_000);
      assert.equal(await index.storageCheckedAt('tools/x'), 1_700_000_000_123);
      await index.recordStorageChecks([], 1);
      await index.clear();
      assert.equal(await index.storageCheckedAt('app'), undefined, 'derived from storage: cleared with the rest');
    });

    it('answers whether a blob is live as if some manifests were gone (dry runs)', async () => {
      const cutoff = new Date(Date.now() + 60_000); // no link is within the grace period
      await put(index, manifest('app', d(10), { blobs: [d(1), d(2)] }));
      await put(index, manifest('app', d(11), { blobs: [d(2)], tag: 'keep' }));
      const doomed = [{ repository: 'app', digest: d(10) }];
      assert.equal(await index.isBlobLive(d(1), cutoff), true);
      assert.equal(await index.isBlobLive(d(1), cutoff, doomed), false, 'only the doomed manifest holds it');
      assert.equal(await index.isBlobLive(d(2), cutoff, doomed), true, 'a kept manifest holds it too');
      assert.equal(await index.isBlobLive(d(10), cutoff, doomed), false, "the doomed manifest's own bytes");
      assert.equal(await index.isBlobLive(d(11), cutoff, doomed), true);
    });

    it('an upload lock is held by one owner at a time, renewed by it, and free once unlocked', async () => {
      assert.equal(await index.lockUpload('u1', 'owner-a', 60_000), true);
      assert.equal(await index.lockUpload('u1', 'owner-b', 60_000), false, 'a live holder keeps its lock');
      assert.equal(await index.lockUpload('u1', 'owner-a', 60_000), true, 'the holder renews it');
      assert.equal(await index.lockUpload('u2', 'owner-b', 60_000), true, 'locks are per session');
      await index.unlockUpload('u1', 'owner-b'); // not the holder: no effect
      assert.equal(await index.lockUpload('u1', 'owner-b', 60_000), false);
      await index.unlockUpload('u1', 'owner-a');
      assert.equal(await index.lockUpload('u1', 'owner-b', 60_000), true);
    });

    it('an upload lock whose holder process was killed is free at once, long before its lease ends', async (t) => {
      if (!fixture.lockFromKilledProcess) return t.skip('no second process can open this index');
      await fixture.lockFromKilledProcess('u-dead', 'owner-dead');
      assert.equal(await index.lockUpload('u-dead', 'owner-live', 60_000), true);
      assert.equal(await index.lockUpload('u-dead', 'owner-other', 60_000), false, 'and the new holder keeps it');
    });

    it('clear empties everything', async () => {
      await put(index, manifest('app', d(10), { tag: 'a' }));
      await index.addBlob('app', d(1), 1);
      await index.importRepository('other', { blobs: [], manifests: [], tags: [] }, { fingerprint: 'fp' });
      await index.clear();
      assert.deepEqual(await index.listRepositories(undefined, 10), []);
      assert.equal((await index.storageFingerprints()).size, 0);
      assert.equal(await index.resolveTag('app', 'a'), undefined);
    });
  });
}
