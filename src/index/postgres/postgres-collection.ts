/**
 * The garbage-collection steps of the PostgreSQL index that remove reachability, each run inside one
 * transaction per batch (PostgresIndex opens it). Each first takes the EXCLUSIVE digest lock of every digest
 * in its batch — all in one statement, in key order — then checks and removes: a push that got in first is
 * seen by the check, a push that comes after sees the result (postgres-index.ts explains the discipline).
 */
import { lockDigests, repositoryId, type Query } from './postgres-transactions.ts';
import { BLOB_LIVE_SQL, reachableInRepositorySql, REMOVE_UNUSED_LINK_SQL } from './postgres-reachability.ts';

type Item = { repository: string; digest: string };

/** Deletes each manifest still unreachable and pushed before cutoff; returns those deleted. */
export async function deleteUnreachable(q: Query, manifests: Item[], cutoff: Date, keepReferrers: boolean): Promise<Item[]> {
  await lockDigests(q, manifests.map((m) => m.digest), 'exclusive');
  const deleted: Item[] = [];
  for (const m of manifests) {
    const id = await repositoryId(q, m.repository, false);
    if (id === undefined) continue;
    if ((await q.query(reachableInRepositorySql(keepReferrers), [id, m.digest])).rows.length > 0) continue;
    const removed = await q.query('DELETE FROM manifests WHERE repository_id = $1 AND digest = $2 AND pushed_at < $3', [id, m.digest, cutoff]);
    if ((removed.rowCount ?? 0) > 0) deleted.push(m);
  }
  return deleted;
}

/** Removes each layer link still referenced by no manifest of its repository and linked before cutoff. */
export async function removeUnusedLinks(q: Query, links: Item[], cutoff: Date): Promise<Item[]> {
  await lockDigests(q, links.map((l) => l.digest), 'exclusive');
  const removed: Item[] = [];
  for (const link of links) {
    if (((await q.query(REMOVE_UNUSED_LINK_SQL, [link.repository, link.digest, cutoff])).rowCount ?? 0) > 0) removed.push(link);
  }
  return removed;
}

/**
 * Of the blobs (whose deletion session locks the caller holds), marks each one that is not live as being
 * deleted and drops its remaining layer links; returns, per blob marked, the repositories it was linked in.
 */
export async function markUnlessLive(q: Query, digests: string[], cutoff: Date, holder: string): Promise<Map<string, string[]>> {
  await lockDigests(q, digests, 'exclusive');
  const marked = new Map<string, string[]>();
  for (const digest of digests) {
    if ((await q.query(BLOB_LIVE_SQL, [digest, cutoff])).rows.length > 0) continue;
    const dropped = await q.query<{ name: string }>(
      'DELETE FROM repository_blobs b USING repositories r WHERE r.id = b.repository_id AND b.digest = $1 RETURNING r.name',
      [digest],
    );
    marked.set(digest, dropped.rows.map((r) => r.name).sort());
  }
  if (marked.size > 0) {
    await q.query(
      `INSERT INTO blob_deletions (digest, started_at, holder) SELECT d, now(), $2 FROM unnest($1::text[]) AS d
       ON CONFLICT (digest) DO UPDATE SET started_at = excluded.started_at, holder = excluded.holder`,
      [[...marked.keys()], holder],
    );
  }
  return marked;
}
