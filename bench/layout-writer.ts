/**
 * Writes tags straight into a stopped registry's data directory, in the reference registry's layout:
 * `_manifests/tags/<tag>/current/link` only (the tag's history under `index/` is left out, which keeps it
 * to three inodes a tag; listing and reindexing read only `current`). Used only where pushing through the
 * API would take longer than a bench run can (hundreds of thousands of tags: every tag PUT costs several
 * fsyncs, on both registries).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeTagLinks(dataDir: string, repo: string, digest: string, tags: Iterable<string>): number {
  const tagsDir = join(dataDir, 'docker/registry/v2/repositories', repo, '_manifests/tags');
  mkdirSync(tagsDir, { recursive: true });
  const link = Buffer.from(digest);
  let written = 0;
  for (const tag of tags) {
    const current = join(tagsDir, tag, 'current');
    mkdirSync(current, { recursive: true });
    writeFileSync(join(current, 'link'), link);
    written++;
  }
  return written;
}
