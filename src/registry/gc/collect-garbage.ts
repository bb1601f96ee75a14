/**
 * Online garbage collection. Runs while clients push and pull; the metadata index decides what is live.
 *
 *   1. (--delete-untagged) delete manifests that no tag reaches, through index children and (by default)
 *      referrers, and that were pushed before the grace cutoff — unless a tag in storage points at one;
 *   2. remove layer links that no manifest in their repository uses, linked before the cutoff;
 *   3. for every blob in storage older than the cutoff: in one index transaction, check that nothing keeps
 *      it (a manifest, a manifest reference, a link within the grace period) and mark it as being deleted,
 *      dropping its remaining links; delete its bytes; clear the mark.
 *
 * Why a push can never end with a manifest pointing at missing bytes: a manifest is recorded only in a
 * transaction that finds every referenced blob linked in the repository; step 3 removes the links and sets
 * the mark in one transaction, before deleting bytes; and while the mark is set nobody can link the blob —
 * an upload keeps its own copy of the bytes until its link is accepted (uploads/uploads.ts). So either the
 * manifest transaction comes first (then the blob is live and step 3 keeps it) or step 3 comes first (then
 * the manifest push fails cleanly with MANIFEST_BLOB_UNKNOWN, or the blob is uploaded again).
 *
 * Why a blob that a manifest revision IN STORAGE references is never deleted, even when the index is
 * behind storage (another registry, such as the reference one, wrote the data directory): before step 3
 * the collector lists every repository's revision links in storage and asks the index which of them it
 * does not know; it reads those manifests from storage and keeps their bytes and everything they
 * reference, whatever the index says. A revision the index does know is covered by its manifest row and
 * references, which step 3's transaction checks. So every revision linked in storage when the listing
 * runs protects its blobs. (A writer that bypasses Pier's index while the collector runs — the reference
 * registry pushing at that very moment — can still link a revision after the listing; the reference
 * registry's own collector has the same limit and requires a read-only registry. Pier's own pushes are
 * covered by the argument above.) Besides, the CLI and the server bring the index up to date with storage
 * before collecting (index/reconcile.ts), and step 1 re-reads the repository's tags from storage.
 *
 * Storage links (the reference layout) follow the index: after removing one, the collector checks whether
 * a client re-created it in the meantime and, if so, writes it back.
 *
 * Each step works in batches: one index transaction per batch of manifests, links or blobs (a commit per
 * item was most of the cost at scale), and the batch's file operations run a few at a time.
 *
 * A dry run changes nothing and reports what a real run would delete, including the blobs that only the
 * untagged manifests of step 1 hold (asked of the index as "live, if those manifests were gone").
 */
import { parseDigest, type Digest } from '../model/digest.ts';
import { mapConcurrently } from '../map-concurrently.ts';
import type { MetadataIndex, RegistryStorage } from '../ports.ts';
import { parseManifest } from '../manifests/parse-manifest.ts';

export interface GcOptions {
  /** Anything pushed, uploaded or linked more recently than this is kept. */
  gracePeriodMs: number;
  deleteUntagged: boolean;
  /** With deleteUntagged: keep manifests whose subject is kept (signatures, SBOMs). */
  keepReferrers: boolean;
  dryRun: boolean;
  now?: Date;
  onProgress?: (phase: 'manifests' | 'links' | 'blobs', done: number) => void;
}

export interface GcReport {
  dryRun: boolean;
  manifestsDeleted: Array<{ repository: string; digest: string }>;
  layerLinksRemoved: number;
  blobsDeleted: Array<{ digest: string; size: number }>;
  bytesFreed: number;
  blobsKept: number;
  durationMs: number;
}

export async function collectGarbage(storage: RegistryStorage, index: MetadataIndex, options: GcOptions): Promise<GcReport> {
  const started = Date.now();
  const cutoff = new Date((options.now ?? new Date()).getTime() - options.gracePeriodMs);
  const report: GcReport = { dryRun: options.dryRun, manifestsDeleted: [], layerLinksRemoved: 0, blobsDeleted: [], bytesFreed: 0, blobsKept: 0, durationMs: 0 };

  const doomed: Array<{ repository: string; digest: string }> = [];
  if (options.deleteUntagged) {
    const storageTags = new Map<string, Set<string>>();
    const candidates: Array<{ repository: string; digest: string }> = [];
    for (const item of await index.unreachableManifests(cutoff, options.keepReferrers)) {
      if (!storageTags.has(item.repository)) storageTags.set(item.repository, new Set((await storage.listTags(item.repository)).map((t) => t.digest.value)));
      if (!storageTags.get(item.repository)!.has(item.digest)) candidates.push(item); // tagged in storage: the index is behind, keep it
    }
    for (const batch of batches(candidates)) {
      const deleted = options.dryRun ? batch : await index.deleteManifestsIfUnreachable(batch, cutoff, options.keepReferrers);
      report.manifestsDeleted.push(...deleted);
      doomed.push(...deleted);
      if (!options.dryRun) await mapConcurrently(deleted, ({ repository, digest }) => unlinkRevision(storage, index, repository, digest), FILE_CONCURRENCY);
      options.onProgress?.('manifests', report.manifestsDeleted.length);
    }
  }

  for (const batch of batches(await index.unusedLayerLinks(cutoff))) {
    const removed = options.dryRun ? batch : await index.removeLayerLinksIfUnused(batch, cutoff);
    report.layerLinksRemoved += removed.length;
    if (!options.dryRun) await mapConcurrently(removed, ({ repository, digest }) => unlinkLayer(storage, index, repository, digest), FILE_CONCURRENCY);
    options.onProgress?.('links', report.layerLinksRemoved);
  }

  const heldByStorage = await heldByUnindexedRevisions(storage, index);
  // Dry run: blobs that the manifests of step 1 reference, to be asked about as if those were gone.
  const doomedRefs = options.dryRun ? await referencedBy(storage, doomed) : new Set<string>();
  let seen = 0;
  let pending: Array<{ digest: Digest; size: number }> = [];
  const deletePending = async (): Promise<void> => {
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    const marked = await index.beginBlobDeletions(batch.map((b) => b.digest.value), cutoff);
    report.blobsKept += batch.length - marked.size;
    const doomedBlobs = batch.filter((b) => marked.has(b.digest.value));
    try {
      await mapConcurrently(
        doomedBlobs,
        async (blob) => {
          await storage.deleteBlob(blob.digest);
          for (const repository of marked.get(blob.digest.value)!) await storage.unlinkLayer(repository, blob.digest);
          record(report, blob.digest.value, blob.size);
        },
        FILE_CONCURRENCY,
      );
    } finally {
      await index.endBlobDeletions(doomedBlobs.map((b) => b.digest.value));
    }
  };
  for await (const blob of storage.listBlobs()) {
    seen += 1;
    if (seen % 1000 === 0) options.onProgress?.('blobs', seen);
    if (blob.modifiedAt >= cutoff || heldByStorage.has(blob.digest.value)) {
      report.blobsKept += 1; // fresh bytes (an upload not linked yet), or a revision in storage needs them
      continue;
    }
    // A read first: most blobs are live, and a read costs far less than the write transaction below.
    if (await index.isBlobLive(blob.digest.value, cutoff)) {
      if (!doomedRefs.has(blob.digest.value) || (await index.isBlobLive(blob.digest.value, cutoff, doomed))) {
        report.blobsKept += 1;
        continue;
      }
    }
    if (options.dryRun) {
      record(report, blob.digest.value, blob.size);
      continue;
    }
    pending.push(blob);
    if (pending.length >= BATCH) await deletePending();
  }
  await deletePending();
  report.durationMs = Date.now() - started;
  return report;
}

/** Items per index transaction: large enough to amortise a commit, small enough not to hold up pushes. */
const BATCH = 50;
/** File operations in flight at once (the filesystem serves them from a small thread pool). */
const FILE_CONCURRENCY = 8;

function batches<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += BATCH) out.push(items.slice(i, i + BATCH));
  return out;
}

/**
 * Digests that manifest revisions linked in storage but unknown to the index hold: the revisions' own
 * bytes and everything they reference. Empty when the index knows every revision (the usual case); the
 * cost is one listing per repository and one index query.
 */
async function heldByUnindexedRevisions(storage: RegistryStorage, index: MetadataIndex): Promise<Set<string>> {
  const held = new Set<string>();
  for await (const repository of storage.listRepositories()) {
    const revisions = await storage.listRevisions(repository);
    if (revisions.length === 0) continue;
    const unknown = new Set(await index.missingManifests(repository, revisions.map((d) => d.value)));
    for (const digest of revisions) {
      if (!unknown.has(digest.value)) continue;
      held.add(digest.value);
      const body = await storage.readBlob(digest);
      if (!body) continue;
      try {
        const parsed = parseManifest(body, undefined);
        for (const d of [...parsed.blobs, ...parsed.children]) held.add(d);
      } catch {
        // not a manifest Pier can read: its own bytes are kept, as above
      }
    }
  }
  return held;
}

/** Every digest the given manifests reference (read from storage), and their own digests. */
async function referencedBy(storage: RegistryStorage, manifests: Array<{ digest: string }>): Promise<Set<string>> {
  const refs = new Set<string>();
  for (const { digest } of manifests) {
    refs.add(digest);
    const body = await storage.readBlob(parseDigest(digest));
    if (!body) continue;
    try {
      const parsed = parseManifest(body, undefined);
      for (const d of [...parsed.blobs, ...parsed.children]) refs.add(d);
    } catch {
      // unreadable: only its own bytes are counted
    }
  }
  return refs;
}

function record(report: GcReport, digest: string, size: number): void {
  report.blobsDeleted.push({ digest, size });
  report.bytesFreed += size;
}

async function unlinkRevision(storage: RegistryStorage, index: MetadataIndex, repository: string, digest: string): Promise<void> {
  const d = parseDigest(digest);
  await storage.unlinkRevision(repository, d);
  if (await index.getManifest(repository, digest)) await storage.linkRevision(repository, d); // re-pushed meanwhile
}

async function unlinkLayer(storage: RegistryStorage, index: MetadataIndex, repository: string, digest: string): Promise<void> {
  const d = parseDigest(digest);
  await storage.unlinkLayer(repository, d);
  if ((await index.repositoryBlobSize(repository, digest)) !== undefined) await storage.linkLayer(repository, d); // re-linked meanwhile
}
