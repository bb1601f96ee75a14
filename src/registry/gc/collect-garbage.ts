/**
 * Online garbage collection. Runs while clients push and pull; the metadata index decides what is live.
 *
 *   1. (--delete-untagged) delete manifests that no tag reaches, through index children and (by default)
 *      referrers, and that were pushed before the grace cutoff;
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
 * Storage links (the reference layout) follow the index: after removing one, the collector checks whether
 * a client re-created it in the meantime and, if so, writes it back.
 */
import { parseDigest } from '../model/digest.ts';
import type { MetadataIndex, RegistryStorage } from '../ports.ts';

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

  if (options.deleteUntagged) {
    for (const { repository, digest } of await index.unreachableManifests(cutoff, options.keepReferrers)) {
      if (options.dryRun || (await index.deleteManifestIfUnreachable(repository, digest, cutoff, options.keepReferrers))) {
        report.manifestsDeleted.push({ repository, digest });
        if (!options.dryRun) await unlinkRevision(storage, index, repository, digest);
      }
      options.onProgress?.('manifests', report.manifestsDeleted.length);
    }
  }

  for (const { repository, digest } of await index.unusedLayerLinks(cutoff)) {
    if (options.dryRun || (await index.removeLayerLinkIfUnused(repository, digest, cutoff))) {
      report.layerLinksRemoved += 1;
      if (!options.dryRun) await unlinkLayer(storage, index, repository, digest);
    }
    options.onProgress?.('links', report.layerLinksRemoved);
  }

  let seen = 0;
  for await (const blob of storage.listBlobs()) {
    seen += 1;
    if (seen % 1000 === 0) options.onProgress?.('blobs', seen);
    if (blob.modifiedAt >= cutoff) {
      report.blobsKept += 1; // fresh bytes: an upload that is not linked yet
      continue;
    }
    // A read first: most blobs are live, and a read costs far less than the write transaction below.
    if (await index.isBlobLive(blob.digest.value, cutoff)) {
      report.blobsKept += 1;
      continue;
    }
    if (options.dryRun) {
      record(report, blob.digest.value, blob.size);
      continue;
    }
    const linkedIn = await index.beginBlobDeletion(blob.digest.value, cutoff);
    if (linkedIn === undefined) {
      report.blobsKept += 1;
      continue;
    }
    try {
      await storage.deleteBlob(blob.digest);
      for (const repository of linkedIn) await storage.unlinkLayer(repository, blob.digest);
      record(report, blob.digest.value, blob.size);
    } finally {
      await index.endBlobDeletion(blob.digest.value);
    }
  }
  report.durationMs = Date.now() - started;
  return report;
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
