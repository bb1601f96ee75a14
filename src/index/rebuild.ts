/**
 * Rebuilds the metadata index from storage: every repository's layer links, manifest revisions and tags.
 * This is how a data directory written by the reference registry is adopted, and how a lost or damaged
 * index is recovered. Storage is the truth here: references are recorded as found, not re-validated.
 */
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import { parseManifest } from '../registry/manifests/parse-manifest.ts';
import type { Logger } from '../observability/logger.ts';

export interface RebuildReport {
  repositories: number;
  blobs: number;
  manifests: number;
  tags: number;
  /** Revisions whose bytes are missing or not a manifest Pier understands (e.g. schema 1). */
  skipped: Array<{ repository: string; digest: string; reason: string }>;
}

export async function rebuildIndex(storage: RegistryStorage, index: MetadataIndex, logger?: Logger): Promise<RebuildReport> {
  const report: RebuildReport = { repositories: 0, blobs: 0, manifests: 0, tags: 0, skipped: [] };
  await index.clear();
  for await (const repository of storage.listRepositories()) {
    report.repositories += 1;
    for (const digest of await storage.listLayers(repository)) {
      const size = await storage.blobSize(digest);
      if (size === undefined) continue; // a link to bytes that are gone (e.g. after an offline GC)
      await index.addBlob(repository, digest.value, size);
      report.blobs += 1;
    }
    const known = new Set<string>();
    for (const digest of await storage.listRevisions(repository)) {
      const body = await storage.readBlob(digest);
      if (!body) {
        report.skipped.push({ repository, digest: digest.value, reason: 'manifest bytes missing' });
        continue;
      }
      try {
        const parsed = parseManifest(body, undefined);
        await index.putManifest({
          repository,
          digest: digest.value,
          mediaType: parsed.mediaType,
          size: body.length,
          blobs: parsed.blobs,
          children: parsed.children,
          ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
          ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
          ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
        }, { trustReferences: true });
        known.add(digest.value);
        report.manifests += 1;
      } catch (error) {
        report.skipped.push({ repository, digest: digest.value, reason: (error as Error).message });
      }
    }
    for (const { tag, digest } of await storage.listTags(repository)) {
      if (!known.has(digest.value)) continue;
      const record = await index.getManifest(repository, digest.value);
      if (!record) continue;
      await index.putManifest({ repository, digest: digest.value, mediaType: record.mediaType, size: record.size, blobs: [], children: [], tag }, { trustReferences: true });
      report.tags += 1;
    }
    if (report.repositories % 100 === 0) logger?.info({ repositories: report.repositories }, 'reindex progress');
  }
  return report;
}
