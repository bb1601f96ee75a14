/**
 * The start-up check's cost (index/reconcile.ts) on a large store: writes N tags over R repositories
 * straight into a data directory in the reference layout (each repository: a few manifests, every tag
 * pointing at one of them), builds the index once, then times the check when nothing changed, and when
 * one repository was changed behind Pier's back (a tag moved), as a start after a rollback would find it.
 *
 *   node --import tsx bench/reconcile/startup-check.ts [--tags 500000] [--repos 100] [--dir /path]
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTagLinks } from '../layout-writer.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { rebuildIndex } from '../../src/index/rebuild.ts';
import { reconcileIndex } from '../../src/index/reconcile.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const TAGS = Number(arg('tags', '500000'));
const REPOS = Number(arg('repos', '100'));
const MANIFESTS_PER_REPO = 4;
const root = mkdtempSync(join(arg('dir', tmpdir()), 'pier-reconcile-'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const v2 = join(root, 'docker/registry/v2');

function writeManifest(repo: string, n: number): string {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","n":"${repo}-${n}"}`);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: [],
    }),
  );
  for (const blob of [config, manifest]) {
    const hex = sha(blob);
    mkdirSync(join(v2, 'blobs/sha256', hex.slice(0, 2), hex), { recursive: true });
    writeFileSync(join(v2, 'blobs/sha256', hex.slice(0, 2), hex, 'data'), blob);
  }
  const link = (dir: string, hex: string) => {
    mkdirSync(join(v2, 'repositories', repo, dir, 'sha256', hex), { recursive: true });
    writeFileSync(join(v2, 'repositories', repo, dir, 'sha256', hex, 'link'), `sha256:${hex}`);
  };
  link('_layers', sha(config));
  link('_manifests/revisions', sha(manifest));
  return `sha256:${sha(manifest)}`;
}

const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(2);
try {
  let t0 = performance.now();
  const perRepo = Math.ceil(TAGS / REPOS);
  for (let r = 0; r < REPOS; r++) {
    const repo = `bench/r${r}`;
    const digests = Array.from({ length: MANIFESTS_PER_REPO }, (_, n) => writeManifest(repo, n));
    for (let m = 0; m < MANIFESTS_PER_REPO; m++) {
      const tags = function* () {
        for (let t = m; t < perRepo; t += MANIFESTS_PER_REPO) yield `t${t}`;
      };
      writeTagLinks(root, repo, digests[m]!, tags());
    }
  }
  console.log(`wrote ${perRepo * REPOS} tags in ${REPOS} repositories: ${seconds(t0)} s`);
  const storage = new DriverRegistryStorage(new FilesystemDriver(root));
  mkdirSync(join(root, 'pier'), { recursive: true });
  const index = new SqliteIndex(join(root, 'pier/index.db'));
  t0 = performance.now();
  const built = await rebuildIndex(storage, index);
  console.log(`full rebuild (pier reindex): ${built.tags} tags, ${seconds(t0)} s`);

  for (let run = 1; run <= 2; run++) {
    t0 = performance.now();
    const report = await reconcileIndex(storage, index);
    console.log(`start-up check, nothing changed (run ${run}): ${seconds(t0)} s, ${report.changed.length} repositories re-read`);
  }
  // One repository changed behind Pier's back: a tag moved to another manifest.
  const moved = join(v2, 'repositories/bench/r0/_manifests/tags/t0/current/link');
  writeFileSync(moved, (await index.resolveTag('bench/r0', 't1'))!.digest);
  t0 = performance.now();
  const report = await reconcileIndex(storage, index);
  console.log(`start-up check, one repository changed: ${seconds(t0)} s, ${report.changed.length} re-read (${report.read.tags} tags)`);
  console.log(`moved tag now: ${(await index.resolveTag('bench/r0', 't0'))?.digest === (await index.resolveTag('bench/r0', 't1'))?.digest ? 'adopted' : 'STALE'}`);
  await index.close();
} finally {
  rmSync(root, { recursive: true, force: true });
}
