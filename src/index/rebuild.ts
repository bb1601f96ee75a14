/**
 * Rebuilds the metadata index from storage: every repository's layer links, manifest revisions and tags.
 * This is how a data directory written by the reference registry is adopted, and how a lost or damaged
 * index is recovered. Storage is the truth here: references are recorded as found, not re-validated.
 */
import type { MetadataIndex, RegistryStorage, RepositoryContent } from '../registry/ports.ts';
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
export const emptyReport = (): RebuildReport => ({ repositories: 0, blobs: 0, manifests: 0, tags: 0, skipped: [] });

export async function rebuildIndex(storage: RegistryStorage, index: MetadataIndex, logger?: Logger): Promise<RebuildReport> {
  const report = emptyReport();
  await index.clear();
  const repositories: string[] = [];
  for await (const repository of storage.listRepositories()) repositories.push(repository);
  // Several repositories at a time: on an object store each read is a round trip, and latency, not
  // bandwidth, bounds the walk.
  await mapConcurrently(repositories, async (repository) => {
    // The fingerprint is taken before reading, so a change made while reading shows at the next check.
    const { fingerprint } = await storage.repositoryFingerprint(repository);
    await index.importRepository(repository, await readRepository(storage, repository, report), { fingerprint });
    if (report.repositories % 100 === 0) logger?.info({ repositories: report.repositories }, 'reindex progress');
  }, REPOSITORIES_AT_ONCE);
  return report;
}

/** Everything storage holds for one repository, as the index records it; counts it into `report`. */
export async function readRepository(storage: RegistryStorage, repository: string, report: RebuildReport): Promise<RepositoryContent> {
  report.repositories += 1;
  const layers = await storage.listLayers(repository);
  const sizes = await mapConcurrently(layers, (digest) => storage.blobSize(digest));
  // A link to bytes that are gone (e.g. after an offline GC) is not recorded.
  const blobs = layers.flatMap((digest, i) => (sizes[i] === undefined ? [] : [{ digest: digest.value, size: sizes[i] }]));
  const revisions = await storage.listRevisions(repository);
  const bodies = await mapConcurrently(revisions, (digest) => storage.readBlob(digest));
  const manifests: RepositoryContent['manifests'] = [];
  revisions.forEach((digest, i) => {
    const body = bodies[i];
    if (!body) {
      report.skipped.push({ repository, digest: digest.value, reason: 'manifest bytes missing' });
      return;
    }
    try {
      manifests.push(manifestRecord(digest.value, body));
    } catch (error) {
      report.skipped.push({ repository, digest: digest.value, reason: (error as Error).message });
    }
  });
  const known = new Set(manifests.map((m) => m.digest));
  const tags = (await storage.listTags(repository)).filter((t) => known.has(t.digest.value)).map((t) => ({ tag: t.tag, digest: t.digest.value }));
  report.blobs += blobs.length;
  report.manifests += manifests.length;
  report.tags += tags.length;
  return { blobs, manifests, tags };
}

/** A manifest's index record from its stored bytes; throws when they are not a manifest Pier understands. */
export function manifestRecord(digest: string, body: Buffer): RepositoryContent['manifests'][number] {
  const parsed = parseManifest(body, undefined);
  return {
    digest,
    mediaType: parsed.mediaType,
    size: body.length,
    blobs: parsed.blobs,
    children: parsed.children,
    ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
    ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
    ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
  };
}
