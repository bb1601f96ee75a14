/**
 * Recording a repository found in storage in the PostgreSQL index (rebuild and start-up reconciliation):
 * the body of PostgresIndex.importRepository, run inside its transaction. Same rules as the SQLite index
 * (MetadataIndex.importRepository in registry/ports.ts): with `replaceOlderThan`, storage wins over rows
 * older than it; rows written since by a running Pier (index first, then storage) are kept.
 */
import type { ImportOptions, ManifestWrite, RepositoryContent } from '../../registry/ports.ts';
import { lockDigests, repositoryId, type Query } from './postgres-transactions.ts';

/** Inserts a manifest and its references; `refresh`: a manifest already there gets a new pushed_at. */
export async function insertManifest(q: Query, id: number, m: Omit<ManifestWrite, 'repository' | 'tag'>, refresh = true): Promise<void> {
  await q.query(
    `INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at, pushed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())
     ON CONFLICT (repository_id, digest) DO ${refresh ? 'UPDATE SET pushed_at = excluded.pushed_at' : 'NOTHING'}`,
    [id, m.digest, m.mediaType, m.size, m.artifactType ?? null, m.subject ?? null, m.annotations ? JSON.stringify(m.annotations) : null],
  );
  const kinds = [...m.blobs.map(() => 'blob'), ...m.children.map(() => 'manifest')];
  if (kinds.length === 0) return;
  await q.query(
    `INSERT INTO manifest_references (repository_id, manifest_digest, kind, target_digest)
     SELECT $1, $2, kind, target FROM unnest($3::text[], $4::text[]) AS r (kind, target) ON CONFLICT DO NOTHING`,
    [id, m.digest, kinds, [...m.blobs, ...m.children]],
  );
}

export async function importRepositoryContent(q: Query, repository: string, content: RepositoryContent, options: ImportOptions): Promise<void> {
  const stale = options.replaceOlderThan;
  // Importing makes these digests reachable: shared locks, like a push (postgres-index.ts).
  await lockDigests(q, [...content.blobs.map((b) => b.digest), ...content.manifests.flatMap((m) => [m.digest, ...m.blobs, ...m.children])], 'shared');
  const manifests = new Map(content.manifests.map((m) => [m.digest, m]));
  const tags = content.tags.filter((t) => manifests.has(t.digest));
  let id = await repositoryId(q, repository, stale === undefined);
  if (id === undefined) {
    if (content.blobs.length > 0 || content.manifests.length > 0) id = (await repositoryId(q, repository, true))!;
  }
  if (id !== undefined) {
    if (stale !== undefined) await removeWhatStorageLacks(q, id, content, tags, stale);
    const blobs = new Map(content.blobs.map((b) => [b.digest, b.size]));
    if (blobs.size > 0) {
      await q.query(
        `INSERT INTO repository_blobs (repository_id, digest, size, created_at) SELECT $1, d, s, now() FROM unnest($2::text[], $3::bigint[]) AS b (d, s)
         ON CONFLICT (repository_id, digest) DO UPDATE SET size = excluded.size, created_at = excluded.created_at`,
        [id, [...blobs.keys()], [...blobs.values()]],
      );
    }
    for (const m of manifests.values()) await insertManifest(q, id, m, stale === undefined);
    if (tags.length > 0) {
      // Without `stale` every tag moves to storage's digest; with it, only tags this index did not move since.
      await q.query(
        `INSERT INTO tags (repository_id, name, digest, updated_at) SELECT $1, t, d, now() FROM unnest($2::text[], $3::text[]) AS x (t, d)
         ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
         ${stale === undefined ? '' : 'WHERE tags.digest <> excluded.digest AND tags.updated_at < $4'}`,
        stale === undefined ? [id, tags.map((t) => t.tag), tags.map((t) => t.digest)] : [id, tags.map((t) => t.tag), tags.map((t) => t.digest), stale],
      );
    }
    if (stale !== undefined) {
      await q.query(
        `DELETE FROM repositories r WHERE r.id = $1 AND NOT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1)
           AND NOT EXISTS (SELECT 1 FROM repository_blobs WHERE repository_id = $1) AND NOT EXISTS (SELECT 1 FROM tags WHERE repository_id = $1)`,
        [id],
      );
    }
  }
  if (options.fingerprint !== undefined) {
    await q.query(
      'INSERT INTO storage_fingerprints (repository, fingerprint) VALUES ($1, $2) ON CONFLICT (repository) DO UPDATE SET fingerprint = excluded.fingerprint',
      [repository, options.fingerprint],
    );
  }
}

/** Storage is the truth for whatever this index learnt before `stale`: such tags, manifests and links not in storage go. */
async function removeWhatStorageLacks(q: Query, id: number, content: RepositoryContent, tags: Array<{ tag: string; digest: string }>, stale: Date): Promise<void> {
  await q.query(
    `DELETE FROM tags t WHERE t.repository_id = $1 AND t.updated_at < $2
       AND NOT EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS w (name, digest) WHERE w.name = t.name AND w.digest = t.digest)`,
    [id, stale, tags.map((t) => t.tag), tags.map((t) => t.digest)],
  );
  await q.query('DELETE FROM manifests WHERE repository_id = $1 AND pushed_at < $2 AND NOT (digest = ANY($3::text[]))', [id, stale, content.manifests.map((m) => m.digest)]);
  await q.query('DELETE FROM repository_blobs WHERE repository_id = $1 AND created_at < $2 AND NOT (digest = ANY($3::text[]))', [id, stale, content.blobs.map((b) => b.digest)]);
}
