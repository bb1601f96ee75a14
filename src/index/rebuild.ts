/**
 * Rebuilds the metadata index from storage: every repository's layer links, manifest revisions and tags.
 * This is how a data directory written by the reference registry is adopted, and how a lost or damaged
 * index is recovered. Storage is the truth here: references are recorded as found, not re-validated.
 */
import type { ManifestWrite, MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import { mapConcurrently } from '../registry/map-concurrently.ts';
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

const REPOSITORIES_AT_ONCE = 8;

export async function rebuildIndex(storage: RegistryStorage, index: MetadataIndex, logger?: Logger): Promise<RebuildReport> {
  const report: RebuildReport = { repositories: 0, blobs: 0, manifests: 0, tags: 0, skipped: [] };
  await index.clear();
  const repositories: string[] = [];
  for await (const repository of storage.listRepositories()) repositories.push(repository);
  // Several repositories at a time: on an object store each read is a round trip, and latency, not
  // bandwidth, bounds the walk.
  await mapConcurrently(repositories, async (repository) => {
    report.repositories += 1;
    const layers = await storage.listLayers(repository);
    const sizes = await mapConcurrently(layers, (digest) => storage.blobSize(digest));
    // A link to bytes that are gone (e.g. after an offline GC) is not recorded.
    const blobs = layers.flatMap((digest, i) => (sizes[i] === undefined ? [] : [{ digest: digest.value, size: sizes[i] }]));
    const revisions = await storage.listRevisions(repository);
    const bodies = await mapConcurrently(revisions, (digest) => storage.readBlob(digest));
    const manifests: Array<Omit<ManifestWrite, 'repository' | 'tag'>> = [];
    revisions.forEach((digest, i) => {
      const body = bodies[i];
      if (!body) {
        report.skipped.push({ repository, digest: digest.value, reason: 'manifest bytes missing' });
        return;
      }
      try {
        const parsed = parseManifest(body, undefined);
        manifests.push({
          digest: digest.value,
          mediaType: parsed.mediaType,
          size: body.length,
          blobs: parsed.blobs,
          children: parsed.children,
          ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
          ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
          ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
        });
      } catch (error) {
        report.skipped.push({ repository, digest: digest.value, reason: (error as Error).message });
      }
    });
    const known = new Set(manifests.map((m) => m.digest));
    const tags = (await storage.listTags(repository)).filter((t) => known.has(t.digest.value)).map((t) => ({ tag: t.tag, digest: t.digest.value }));
    await index.importRepository(repository, { blobs, manifests, tags });
    report.blobs += blobs.length;
    report.manifests += manifests.length;
    report.tags += tags.length;
    if (report.repositories % 100 === 0) logger?.info({ repositories: report.repositories }, 'reindex progress');
  }, REPOSITORIES_AT_ONCE);
  return report;
}
