/**
 * Scrub: verify what storage holds. Re-hashes every blob, checks that every manifest revision's bytes and
 * references exist, that every link file points at bytes that exist, and that the index agrees with
 * storage about manifests and tags. Reports every problem; `repair` moves corrupt blobs aside (the caller
 * then rebuilds the index).
 */
import { newHash, digestFromHash, type Digest } from '../model/digest.ts';
import { parseManifest } from '../manifests/parse-manifest.ts';
import type { MetadataIndex, RegistryStorage } from '../ports.ts';

export type ScrubProblem =
  | { kind: 'corrupt-blob'; digest: string; actual: string }
  | { kind: 'missing-blob'; repository: string; digest: string; referencedBy: string }
  | { kind: 'unreadable-manifest'; repository: string; digest: string; reason: string }
  | { kind: 'dangling-link'; repository: string; link: 'layer' | 'revision' | 'tag'; digest: string; tag?: string }
  | { kind: 'index-mismatch'; repository: string; detail: string };

export interface ScrubReport {
  blobsChecked: number;
  bytesChecked: number;
  manifestsChecked: number;
  problems: ScrubProblem[];
  quarantined: string[];
}

export async function scrub(
  storage: RegistryStorage,
  index: MetadataIndex,
  options: { repair: boolean; onProgress?: (blobs: number, bytes: number) => void },
): Promise<ScrubReport> {
  const report: ScrubReport = { blobsChecked: 0, bytesChecked: 0, manifestsChecked: 0, problems: [], quarantined: [] };
  const present = new Set<string>();

  for await (const blob of storage.listBlobs()) {
    const actual = await hashBlob(storage, blob.digest);
    report.blobsChecked += 1;
    report.bytesChecked += blob.size;
    if (report.blobsChecked % 500 === 0) options.onProgress?.(report.blobsChecked, report.bytesChecked);
    if (actual === blob.digest.value) {
      present.add(blob.digest.value);
      continue;
    }
    report.problems.push({ kind: 'corrupt-blob', digest: blob.digest.value, actual });
    if (options.repair) {
      await storage.quarantineBlob(blob.digest);
      report.quarantined.push(blob.digest.value);
    }
  }

  for await (const repository of storage.listRepositories()) {
    for (const digest of await storage.listLayers(repository)) {
      if (!present.has(digest.value)) report.problems.push({ kind: 'dangling-link', repository, link: 'layer', digest: digest.value });
    }
    const revisions = new Set<string>();
    for (const digest of await storage.listRevisions(repository)) {
      revisions.add(digest.value);
      if (!present.has(digest.value)) {
        report.problems.push({ kind: 'dangling-link', repository, link: 'revision', digest: digest.value });
        continue;
      }
      report.manifestsChecked += 1;
      await checkManifest(storage, index, repository, digest, present, report);
    }
    for (const { tag, digest } of await storage.listTags(repository)) {
      if (!revisions.has(digest.value)) report.problems.push({ kind: 'dangling-link', repository, link: 'tag', tag, digest: digest.value });
      const indexed = await index.resolveTag(repository, tag);
      if (indexed?.digest !== digest.value) {
        report.problems.push({ kind: 'index-mismatch', repository, detail: `tag ${tag} is ${digest.value} in storage, ${indexed?.digest ?? 'absent'} in the index` });
      }
    }
  }
  return report;
}

async function checkManifest(
  storage: RegistryStorage,
  index: MetadataIndex,
  repository: string,
  digest: Digest,
  present: Set<string>,
  report: ScrubReport,
): Promise<void> {
  const body = await storage.readBlob(digest);
  if (!body) return;
  let references: string[];
  try {
    const parsed = parseManifest(body, undefined);
    references = [...parsed.blobs, ...parsed.children];
  } catch (error) {
    report.problems.push({ kind: 'unreadable-manifest', repository, digest: digest.value, reason: (error as Error).message });
    return;
  }
  for (const reference of references) {
    if (!present.has(reference)) report.problems.push({ kind: 'missing-blob', repository, digest: reference, referencedBy: digest.value });
  }
  if (!(await index.getManifest(repository, digest.value))) {
    report.problems.push({ kind: 'index-mismatch', repository, detail: `manifest ${digest.value} is in storage but not in the index` });
  }
}

async function hashBlob(storage: RegistryStorage, digest: Digest): Promise<string> {
  const hash = newHash(digest.algorithm);
  const stream = await storage.openBlob(digest);
  if (stream) for await (const chunk of stream) hash.update(chunk as Buffer);
  return digestFromHash(digest.algorithm, hash).value;
}

