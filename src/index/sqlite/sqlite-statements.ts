/**
 * The SQLite index's prepared statements and the reachability queries they are built from, apart from the
 * index's logic (sqlite-index.ts), which runs them.
 */
import type Database from 'better-sqlite3';

export type SqliteStatements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  const repo = '(SELECT id FROM repositories WHERE name = ?)';
  return {
    repositoryId: db.prepare('SELECT id FROM repositories WHERE name = ?'),
    insertRepository: db.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?)'),
    insertBlob: db.prepare(
      'INSERT INTO repository_blobs (repository_id, digest, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET size = excluded.size, created_at = excluded.created_at',
    ),
    blobSizeById: db.prepare('SELECT size FROM repository_blobs WHERE repository_id = ? AND digest = ?'),
    manifestById: db.prepare('SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?'),
    deletionMark: db.prepare('SELECT started_at FROM blob_deletions WHERE digest = ?'),
    beginDeletion: db.prepare('INSERT INTO blob_deletions (digest, started_at) VALUES (?, ?) ON CONFLICT DO UPDATE SET started_at = excluded.started_at'),
    endDeletion: db.prepare('DELETE FROM blob_deletions WHERE digest = ?'),
    blobLive: db.prepare(
      `SELECT 1 FROM manifests WHERE digest = ?
       UNION ALL SELECT 1 FROM manifest_references WHERE target_digest = ?
       UNION ALL SELECT 1 FROM repository_blobs WHERE digest = ? AND created_at >= ?
       LIMIT 1`,
    ),
    blobLiveIgnoring: db.prepare(
      `SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
         WHERE m.digest = @digest AND r.name || ' ' || m.digest NOT IN (SELECT value FROM json_each(@ignore))
       UNION ALL SELECT 1 FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
         WHERE x.target_digest = @digest AND r.name || ' ' || x.manifest_digest NOT IN (SELECT value FROM json_each(@ignore))
       UNION ALL SELECT 1 FROM repository_blobs WHERE digest = @digest AND created_at >= @cutoff
       LIMIT 1`,
    ),
    linksOfBlob: db.prepare('SELECT r.name FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE b.digest = ?'),
    dropLinksOfBlob: db.prepare('DELETE FROM repository_blobs WHERE digest = ?'),
    unusedLinks: db.prepare(
      `SELECT r.name, b.digest FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
       WHERE b.created_at < ? AND NOT EXISTS (
         SELECT 1 FROM manifest_references m WHERE m.repository_id = b.repository_id AND m.target_digest = b.digest)`,
    ),
    removeUnusedLink: db.prepare(
      `DELETE FROM repository_blobs WHERE repository_id = ${repo} AND digest = ? AND created_at < ? AND NOT EXISTS (
         SELECT 1 FROM manifest_references m WHERE m.repository_id = repository_blobs.repository_id AND m.target_digest = repository_blobs.digest)`,
    ),
    unreachable: db.prepare(unreachableSql(false)),
    unreachableWithReferrers: db.prepare(unreachableSql(true)),
    reachableInRepo: db.prepare(reachableInRepoSql(false)),
    reachableInRepoWithReferrers: db.prepare(reachableInRepoSql(true)),
    deleteManifestBefore: db.prepare('DELETE FROM manifests WHERE repository_id = ? AND digest = ? AND pushed_at < ?'),
    blobSize: db.prepare(`SELECT size FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    deleteBlob: db.prepare(`DELETE FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    // A re-push refreshes pushed_at; `changes` is then 1 as well, and re-inserting the references is harmless.
    insertManifest: db.prepare(
      'INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET pushed_at = excluded.pushed_at',
    ),
    insertManifestIfNew: db.prepare(
      'INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    tagDigest: db.prepare('SELECT digest FROM tags WHERE repository_id = ? AND name = ?'),
    tagRowsOf: db.prepare('SELECT name, digest, updated_at FROM tags WHERE repository_id = ?'),
    manifestRowsOf: db.prepare('SELECT digest, pushed_at FROM manifests WHERE repository_id = ?'),
    blobRowsOf: db.prepare('SELECT digest, created_at FROM repository_blobs WHERE repository_id = ?'),
    deleteTagById: db.prepare('DELETE FROM tags WHERE repository_id = ? AND name = ?'),
    deleteBlobById: db.prepare('DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?'),
    // A tag found in storage: added, or moved unless this index moved it more recently than `stale`.
    adoptTag: db.prepare(
      `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (@id, @tag, @digest, @now)
       ON CONFLICT DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at WHERE tags.digest <> excluded.digest AND tags.updated_at < @stale`,
    ),
    repositoryHasContent: db.prepare(
      `SELECT 1 FROM manifests WHERE repository_id = ? UNION ALL SELECT 1 FROM repository_blobs WHERE repository_id = ?
       UNION ALL SELECT 1 FROM tags WHERE repository_id = ? LIMIT 1`,
    ),
    deleteRepository: db.prepare('DELETE FROM repositories WHERE id = ?'),
    setFingerprint: db.prepare('INSERT INTO storage_fingerprints (repository, fingerprint) VALUES (?, ?) ON CONFLICT DO UPDATE SET fingerprint = excluded.fingerprint'),
    fingerprints: db.prepare('SELECT repository, fingerprint FROM storage_fingerprints'),
    storageCheck: db.prepare('SELECT checked_at FROM storage_checks WHERE repository = ?'),
    recordStorageCheck: db.prepare(
      'INSERT INTO storage_checks (repository, checked_at) VALUES (?, ?) ON CONFLICT DO UPDATE SET checked_at = max(checked_at, excluded.checked_at)',
    ),
    insertReference: db.prepare(
      'INSERT INTO manifest_references (repository_id, manifest_digest, kind, target_digest) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    manifest: db.prepare(`SELECT digest, media_type, size FROM manifests WHERE repository_id = ${repo} AND digest = ?`),
    tagsOfDigest: db.prepare('SELECT name FROM tags WHERE repository_id = ? AND digest = ? ORDER BY name'),
    deleteManifest: db.prepare('DELETE FROM manifests WHERE repository_id = ? AND digest = ?'),
    upsertTag: db.prepare(
      'INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at',
    ),
    resolveTag: db.prepare(
      `SELECT m.digest, m.media_type, m.size FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE t.repository_id = ${repo} AND t.name = ?`,
    ),
    deleteTag: db.prepare(`DELETE FROM tags WHERE repository_id = ${repo} AND name = ?`),
    deleteTagIf: db.prepare(`DELETE FROM tags WHERE repository_id = ${repo} AND name = ? AND digest = ?`),
    // Plain strings (pluck), not a row object per tag: a third of the cost of a 1,000-tag page.
    listTags: db.prepare('SELECT name FROM tags INDEXED BY tags_listing WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?').pluck(),
    tagRecords: db.prepare(`SELECT name, digest, updated_at FROM tags WHERE repository_id = ${repo} ORDER BY updated_at DESC, name`),
    usageOfRepository: db.prepare(`SELECT SUM(size) AS total FROM repository_blobs WHERE repository_id = ${repo}`),
    // LIKE is only a prefilter (it is case-insensitive and treats _ as a wildcard); substr makes it exact.
    usageOfNamespace: db.prepare(
      `SELECT SUM(size) AS total FROM (SELECT b.digest, MAX(b.size) AS size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
       WHERE r.name = @ns OR (r.name LIKE @prefix AND substr(r.name, 1, length(@ns) + 1) = @ns || '/') GROUP BY b.digest)`,
    ),
    blobInNamespace: db.prepare(
      `SELECT 1 FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
       WHERE (r.name = @ns OR (r.name LIKE @prefix AND substr(r.name, 1, length(@ns) + 1) = @ns || '/')) AND b.digest = @digest LIMIT 1`,
    ),
    // Inserts the lock, or takes it over when it is ours, its holder's process is gone (same host), or its
    // lease has run out (the last resort, for a holder on another host); otherwise changes nothing.
    lockUpload: db.prepare(
      `INSERT INTO upload_write_locks (id, owner, host, boot, pid, started, expires_at) VALUES (@id, @owner, @host, @boot, @pid, @started, @expires)
       ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, host = excluded.host, boot = excluded.boot, pid = excluded.pid,
         started = excluded.started, expires_at = excluded.expires_at
       WHERE upload_write_locks.owner = @owner OR upload_write_locks.expires_at < @now
         OR (upload_write_locks.host = @host AND NOT pier_holder_alive(upload_write_locks.boot, upload_write_locks.pid, upload_write_locks.started))`,
    ),
    unlockUpload: db.prepare('DELETE FROM upload_write_locks WHERE id = ? AND owner = ?'),
    listRepositories: db.prepare('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
    referrers: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository_id = ${repo} AND subject = ? ORDER BY digest`,
    ),
    referrersOfType: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository_id = ${repo} AND subject = ? AND artifact_type = ? ORDER BY digest`,
    ),
  };
}

/**
 * Manifests reachable from a tag: tagged ones, the children of reachable indexes and, when
 * `withReferrers`, manifests whose subject is reachable.
 */
function liveCte(withReferrers: boolean, scope: string): string {
  return `WITH RECURSIVE live(repository_id, digest) AS (
      SELECT repository_id, digest FROM tags ${scope}
      UNION
      SELECT r.repository_id, r.target_digest FROM manifest_references r
        JOIN live l ON r.repository_id = l.repository_id AND r.manifest_digest = l.digest WHERE r.kind = 'manifest'
      ${withReferrers ? `UNION
      SELECT m.repository_id, m.digest FROM manifests m JOIN live l ON m.repository_id = l.repository_id AND m.subject = l.digest` : ''}
    )`;
}

function unreachableSql(withReferrers: boolean): string {
  return `${liveCte(withReferrers, '')}
    SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
    WHERE m.pushed_at < ? AND NOT EXISTS (SELECT 1 FROM live l WHERE l.repository_id = m.repository_id AND l.digest = m.digest)
    ORDER BY r.name, m.digest`;
}

/** Parameters: repository id, digest. */
function reachableInRepoSql(withReferrers: boolean): string {
  return `${liveCte(withReferrers, 'WHERE repository_id = ?')}
    SELECT 1 FROM live WHERE digest = ?`;
}
