/**
 * SQL for what garbage collection asks the PostgreSQL index: which manifests a tag reaches, which blobs
 * are live. Kept apart from postgres-index.ts because it is the one intricate piece of SQL.
 *
 * Reachability is a recursive walk from the tags along edges "parent → child": an index's child manifests
 * and, when referrers are kept, a subject's referrers. PostgreSQL allows the recursive reference only once
 * in the recursive term, so both kinds of edge are first gathered into one relation.
 */

/** `$scope` limits the walk to one repository id when given (a parameter placeholder like `$1`). */
function liveCte(withReferrers: boolean, scope?: string): string {
  const tagsWhere = scope ? `WHERE repository_id = ${scope}` : '';
  const refsWhere = scope ? `AND repository_id = ${scope}` : '';
  return `WITH RECURSIVE edges (repository_id, parent, child) AS (
      SELECT repository_id, manifest_digest, target_digest FROM manifest_references WHERE kind = 'manifest' ${refsWhere}
      ${withReferrers ? `UNION ALL SELECT repository_id, subject, digest FROM manifests WHERE subject IS NOT NULL ${refsWhere}` : ''}
    ), live (repository_id, digest) AS (
      SELECT repository_id, digest FROM tags ${tagsWhere}
      UNION
      SELECT e.repository_id, e.child FROM edges e JOIN live l ON e.repository_id = l.repository_id AND e.parent = l.digest
    )`;
}

/** Parameters: $1 cutoff. Rows: name, digest. */
export function unreachableManifestsSql(withReferrers: boolean): string {
  return `${liveCte(withReferrers)}
    SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
    WHERE m.pushed_at < $1 AND NOT EXISTS (SELECT 1 FROM live l WHERE l.repository_id = m.repository_id AND l.digest = m.digest)
    ORDER BY r.name, m.digest`;
}

/** Parameters: $1 repository id, $2 digest. One row when a tag of that repository reaches the manifest. */
export function reachableInRepositorySql(withReferrers: boolean): string {
  return `${liveCte(withReferrers, '$1')}
    SELECT 1 FROM live WHERE digest = $2 LIMIT 1`;
}

/** Parameters: $1 digest, $2 cutoff. One row when a manifest, a reference or a link younger than cutoff keeps the bytes. */
export const BLOB_LIVE_SQL = `SELECT 1 FROM manifests WHERE digest = $1
  UNION ALL SELECT 1 FROM manifest_references WHERE target_digest = $1
  UNION ALL SELECT 1 FROM repository_blobs WHERE digest = $1 AND created_at >= $2
  LIMIT 1`;

/** As BLOB_LIVE_SQL, as if the manifests ($3 repository names, $4 digests, pairwise) and their references were gone. */
export const BLOB_LIVE_IGNORING_SQL = `WITH ignored (name, digest) AS (SELECT * FROM unnest($3::text[], $4::text[]))
  SELECT 1 FROM manifests m JOIN repositories r ON r.id = m.repository_id
    WHERE m.digest = $1 AND NOT EXISTS (SELECT 1 FROM ignored i WHERE i.name = r.name AND i.digest = m.digest)
  UNION ALL SELECT 1 FROM manifest_references x JOIN repositories r ON r.id = x.repository_id
    WHERE x.target_digest = $1 AND NOT EXISTS (SELECT 1 FROM ignored i WHERE i.name = r.name AND i.digest = x.manifest_digest)
  UNION ALL SELECT 1 FROM repository_blobs WHERE digest = $1 AND created_at >= $2
  LIMIT 1`;

/** Parameters: $1 cutoff. Layer links that no manifest of their repository references. */
export const UNUSED_LINKS_SQL = `SELECT r.name, b.digest FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
  WHERE b.created_at < $1 AND NOT EXISTS (
    SELECT 1 FROM manifest_references m WHERE m.repository_id = b.repository_id AND m.target_digest = b.digest)
  ORDER BY r.name, b.digest`;

/** Parameters: $1 repository name, $2 digest, $3 cutoff. */
export const REMOVE_UNUSED_LINK_SQL = `DELETE FROM repository_blobs b USING repositories r
  WHERE r.id = b.repository_id AND r.name = $1 AND b.digest = $2 AND b.created_at < $3 AND NOT EXISTS (
    SELECT 1 FROM manifest_references m WHERE m.repository_id = b.repository_id AND m.target_digest = b.digest)`;
