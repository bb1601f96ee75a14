/**
 * The metadata index on PostgreSQL, shared by any number of Pier replicas. Same contract and same tables as
 * the SQLite index (index/sqlite/); what differs is how concurrent writers are kept apart.
 *
 * SQLite runs one writer at a time. Here transactions run side by side (READ COMMITTED), so the pairs that
 * must not interleave take transaction-level advisory locks on the digests they touch:
 * - a write that makes a digest reachable (linking a blob, recording a manifest and what it references,
 *   moving a tag) takes the digest's lock SHARED — pushes never wait for each other;
 * - a garbage-collection step that removes reachability (dropping a blob's links before deleting its
 *   bytes, removing an unused layer link, deleting an unreachable manifest) takes it EXCLUSIVE.
 * Each is taken first thing in its transaction, so the liveness check that follows sees every write that
 * got in before it (READ COMMITTED gives each statement a fresh snapshot), and a write that comes after
 * sees the collector's result (the deletion mark, the missing link). A collector works in batches and takes
 * several exclusive locks in one transaction; every transaction takes all its digest locks in one statement,
 * in the order of their keys, before touching rows, so these locks cannot deadlock.
 *
 * Deletion marks and upload locks are tied to a session (postgres-session-locks.ts), so they work across
 * machines and die with their holder.
 *
 * Adding a method: one public method = one statement or one `transaction()` (postgres-transactions.ts has
 * the helpers); take `lockDigests` first when it races with garbage collection as described above. The
 * bodies of the collector's batch steps are in postgres-collection.ts, of importRepository in postgres-import.ts.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Pool, QueryResultRow } from 'pg';
import type { ImportOptions, LinkResult, ManifestRecord, ManifestWrite, MetadataIndex, OutboxEvent, PutManifestResult, ReferrerRecord, RepositoryContent, TagRecord, UsageScope } from '../../registry/ports.ts';
import { storeEvents } from './postgres-outbox.ts';
import type { ManifestMediaType } from '../../registry/model/media-types.ts';
import { advisoryKey } from './advisory-keys.ts';
import { SessionLocks } from './postgres-session-locks.ts';
import { inTransaction, lockDigests, repositoryId, type Query } from './postgres-transactions.ts';
import { importRepositoryContent, insertManifest } from './postgres-import.ts';
import { deleteUnreachable, markUnlessLive, removeUnusedLinks } from './postgres-collection.ts';
import {
  BLOB_LIVE_IGNORING_SQL,
  BLOB_LIVE_SQL,
  unreachableManifestsSql,
  UNUSED_LINKS_SQL,
} from './postgres-reachability.ts';

type Row = Record<string, unknown>;

/** A deletion mark stays in force this long even if its holder's session is gone (see isBeingDeleted). */
const MARK_FLOOR_MS = 60_000;

export class PostgresIndex implements MetadataIndex {
  /** Names this process in deletion marks (for an operator reading blob_deletions). */
  private readonly holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

  private readonly markFloorMs: number;

  constructor(
    private readonly pool: Pool,
    private readonly locks: SessionLocks,
    options: { markFloorMs?: number } = {},
  ) {
    this.markFloorMs = options.markFloorMs ?? MARK_FLOOR_MS;
  }

  private async query<T extends QueryResultRow = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query<T>(sql, params)).rows;
  }

  private transaction<T>(work: (q: Query) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  /**
   * True while a garbage collection is deleting the digest's bytes. A mark counts while its holder's session
   * still holds the deletion lock, and in any case for markFloorMs (default MARK_FLOOR_MS): a collector whose connection broke
   * may still be deleting for a moment. A mark past both is stale and removed.
   */
  private async isBeingDeleted(q: Query, digest: string): Promise<boolean> {
    const { rows } = await q.query<{ state: string }>(
      `SELECT CASE
         WHEN NOT EXISTS (SELECT 1 FROM blob_deletions WHERE digest = $1) THEN 'none'
         WHEN EXISTS (SELECT 1 FROM blob_deletions WHERE digest = $1 AND started_at > now() - $3 * interval '1 millisecond') THEN 'deleting'
         WHEN pg_try_advisory_xact_lock($2) THEN 'stale'
         ELSE 'deleting' END AS state`,
      [digest, advisoryKey('deleting', digest), this.markFloorMs],
    );
    const state = rows[0]!.state;
    if (state === 'stale') await q.query('DELETE FROM blob_deletions WHERE digest = $1', [digest]);
    return state === 'deleting';
  }

  // ---- blobs ----

  async addBlob(repository: string, digest: string, size: number, events?: OutboxEvent[]): Promise<LinkResult> {
    return this.transaction(async (q) => {
      await lockDigests(q, [digest], 'shared');
      if (await this.isBeingDeleted(q, digest)) return 'deleting';
      const id = await repositoryId(q, repository, true);
      await q.query(
        `INSERT INTO repository_blobs (repository_id, digest, size, created_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (repository_id, digest) DO UPDATE SET size = excluded.size, created_at = excluded.created_at`,
        [id, digest, size],
      );
      await storeEvents(q, events);
      return 'linked';
    });
  }

  async repositoryBlobSize(repository: string, digest: string): Promise<number | undefined> {
    const rows = await this.query<{ size: number }>(
      'SELECT b.size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE r.name = $1 AND b.digest = $2',
      [repository, digest],
    );
    return rows[0]?.size;
  }

  async removeBlob(repository: string, digest: string, events?: OutboxEvent[]): Promise<boolean> {
    return this.transaction(async (q) => {
      const result = await q.query(
        'DELETE FROM repository_blobs b USING repositories r WHERE r.id = b.repository_id AND r.name = $1 AND b.digest = $2',
        [repository, digest],
      );
      const removed = (result.rowCount ?? 0) > 0;
      if (removed) await storeEvents(q, events);
      return removed;
    });
  }

  async missingBlobs(repository: string, digests: string[]): Promise<string[]> {
    const present = await this.query<{ digest: string }>(
      'SELECT b.digest FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE r.name = $1 AND b.digest = ANY($2::text[])',
      [repository, digests],
    );
    const found = new Set(present.map((r) => r.digest));
    return digests.filter((d) => !found.has(d));
  }

  // ---- manifests and tags ----

  async putManifest(write: ManifestWrite, options: { trustReferences?: boolean; events?: OutboxEvent[] } = {}): Promise<PutManifestResult> {
    return this.transaction(async (q): Promise<PutManifestResult> => {
      await lockDigests(q, [write.digest, ...write.blobs, ...write.children], 'shared');
      if (await this.isBeingDeleted(q, write.digest)) return { kind: 'deleting' };
      let id = await repositoryId(q, write.repository, false);
      if (!options.trustReferences) {
        const missing = id === undefined ? [...write.blobs, ...write.children] : await this.missingReferences(q, id, write.blobs, write.children);
        if (missing.length > 0) return { kind: 'missing', digests: missing };
      }
      id ??= await repositoryId(q, write.repository, true);
      await insertManifest(q, id!, write);
      if (write.tag !== undefined && write.tagImmutable) {
        const current = await this.tagOnce(q, id!, write.tag, write.digest);
        if (current !== undefined) throw new ImmutableTag(current);
      } else if (write.tag !== undefined) {
        await q.query(
          `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
          [id, write.tag, write.digest],
        );
      }
      await storeEvents(q, options.events);
      return { kind: 'stored' };
    }).catch((error: unknown) => {
      if (error instanceof ImmutableTag) return { kind: 'immutable', current: error.current }; // rolled back: nothing changed
      throw error;
    });
  }

  /**
   * Creates an immutable tag, or refreshes it when it already points at `digest`; otherwise returns the
   * digest it points at. DO NOTHING waits for a concurrent first push of the same tag to commit, and the
   * SELECT after it (a fresh snapshot under READ COMMITTED) then sees that push's digest: only one wins.
   */
  private async tagOnce(q: Query, id: number, tag: string, digest: string): Promise<string | undefined> {
    for (;;) {
      const inserted = await q.query(
        'INSERT INTO tags (repository_id, name, digest, updated_at) VALUES ($1, $2, $3, now()) ON CONFLICT (repository_id, name) DO NOTHING',
        [id, tag, digest],
      );
      if ((inserted.rowCount ?? 0) > 0) return undefined;
      const { rows } = await q.query<{ digest: string }>('SELECT digest FROM tags WHERE repository_id = $1 AND name = $2 FOR UPDATE', [id, tag]);
      const current = rows[0]?.digest;
      if (current === undefined) continue; // deleted in between: try to create it again
      if (current !== digest) return current;
      await q.query('UPDATE tags SET updated_at = now() WHERE repository_id = $1 AND name = $2', [id, tag]);
      return undefined;
    }
  }

  /** Blobs not linked into the repository, then child manifests not in it, each in the order given. */
  private async missingReferences(q: Query, id: number, blobs: string[], children: string[]): Promise<string[]> {
    const { rows } = await q.query<{ digest: string; kind: string }>(
      `SELECT digest, 'blob' AS kind FROM repository_blobs WHERE repository_id = $1 AND digest = ANY($2::text[])
       UNION ALL SELECT digest, 'manifest' FROM manifests WHERE repository_id = $1 AND digest = ANY($3::text[])`,
      [id, blobs, children],
    );
    const have = new Set(rows.map((r) => `${r.kind} ${r.digest}`));
    return [...blobs.filter((d) => !have.has(`blob ${d}`)), ...children.filter((d) => !have.has(`manifest ${d}`))];
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const rows = await this.query(
      'SELECT m.digest, m.media_type, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2',
      [repository, digest],
    );
    return toManifest(rows[0]);
  }

  async deleteManifest(repository: string, digest: string, events?: OutboxEvent[]): Promise<string[] | undefined> {
    return this.transaction(async (q) => {
      const id = await repositoryId(q, repository, false);
      if (id === undefined) return undefined;
      const tags = await q.query<{ name: string }>('SELECT name FROM tags WHERE repository_id = $1 AND digest = $2 ORDER BY name FOR UPDATE', [id, digest]);
      const removed = await q.query('DELETE FROM manifests WHERE repository_id = $1 AND digest = $2', [id, digest]);
      if ((removed.rowCount ?? 0) === 0) return undefined;
      await storeEvents(q, events);
      return tags.rows.map((r) => r.name);
    });
  }

  async missingManifests(repository: string, digests: string[]): Promise<string[]> {
    const present = await this.query<{ digest: string }>(
      'SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = ANY($2::text[])',
      [repository, digests],
    );
    const found = new Set(present.map((r) => r.digest));
    return digests.filter((d) => !found.has(d));
  }

  async resolveTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const rows = await this.query(
      `SELECT m.digest, m.media_type, m.size FROM tags t
       JOIN repositories r ON r.id = t.repository_id
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE r.name = $1 AND t.name = $2`,
      [repository, tag],
    );
    return toManifest(rows[0]);
  }

  async deleteTag(repository: string, tag: string, expectedDigest?: string, events?: OutboxEvent[]): Promise<boolean> {
    return this.transaction(async (q) => {
      const result = await q.query(
        `DELETE FROM tags t USING repositories r WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2 ${expectedDigest !== undefined ? 'AND t.digest = $3' : ''}`,
        expectedDigest !== undefined ? [repository, tag, expectedDigest] : [repository, tag],
      );
      const removed = (result.rowCount ?? 0) > 0;
      if (removed) await storeEvents(q, events);
      return removed;
    });
  }

  async appendEvents(events: OutboxEvent[]): Promise<void> {
    if (events.length > 0) await this.transaction((q) => storeEvents(q, events));
  }

  async listTags(repository: string, after: string | undefined, limit: number): Promise<string[] | undefined> {
    const id = await repositoryId(this.pool, repository, false);
    if (id === undefined) return undefined;
    const rows = await this.query<{ name: string }>('SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3', [id, after ?? '', limit]);
    return rows.map((r) => r.name);
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    const rows = await this.query<{ name: string }>('SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2', [after ?? '', limit]);
    return rows.map((r) => r.name);
  }

  async tagRecords(repository: string): Promise<TagRecord[]> {
    const rows = await this.query<{ name: string; digest: string; updated_at: Date }>(
      `SELECT t.name, t.digest, t.updated_at FROM tags t JOIN repositories r ON r.id = t.repository_id
       WHERE r.name = $1 ORDER BY t.updated_at DESC, t.name`,
      [repository],
    );
    return rows.map((r) => ({ tag: r.name, digest: r.digest, updatedAt: r.updated_at }));
  }

  async usage(scope: UsageScope): Promise<number> {
    const rows =
      'repository' in scope
        ? await this.query<{ total: number | null }>(
            'SELECT sum(b.size)::bigint AS total FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE r.name = $1',
            [scope.repository],
          )
        : await this.query<{ total: number | null }>(
            `SELECT sum(size)::bigint AS total FROM (
               SELECT b.digest, max(b.size) AS size FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id
               WHERE r.name = $1 OR starts_with(r.name, $1 || '/') GROUP BY b.digest) per_blob`,
            [scope.namespace],
          );
    return rows[0]?.total ?? 0;
  }

  async blobInScope(scope: UsageScope, digest: string): Promise<boolean> {
    const [where, name] = 'repository' in scope ? ['r.name = $1', scope.repository] : [`(r.name = $1 OR starts_with(r.name, $1 || '/'))`, scope.namespace];
    const rows = await this.query(`SELECT 1 FROM repository_blobs b JOIN repositories r ON r.id = b.repository_id WHERE ${where} AND b.digest = $2 LIMIT 1`, [name, digest]);
    return rows.length > 0;
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return (await repositoryId(this.pool, repository, false)) !== undefined;
  }

  async listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]> {
    const rows = await this.query(
      `SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m JOIN repositories r ON r.id = m.repository_id
       WHERE r.name = $1 AND m.subject = $2 ${artifactType !== undefined ? 'AND m.artifact_type = $3' : ''} ORDER BY m.digest`,
      artifactType !== undefined ? [repository, subject, artifactType] : [repository, subject],
    );
    return rows.map((r) => {
      const record: ReferrerRecord = { digest: r.digest as string, mediaType: r.media_type as string, size: r.size as number };
      if (r.artifact_type) record.artifactType = r.artifact_type as string;
      if (r.annotations) record.annotations = JSON.parse(r.annotations as string) as Record<string, string>;
      return record;
    });
  }

  // ---- garbage collection ----

  async unreachableManifests(cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>> {
    const rows = await this.query<{ name: string; digest: string }>(unreachableManifestsSql(keepReferrers), [cutoff]);
    return rows.map((r) => ({ repository: r.name, digest: r.digest }));
  }

  async deleteManifestsIfUnreachable(
    manifests: Array<{ repository: string; digest: string }>,
    cutoff: Date,
    keepReferrers: boolean,
  ): Promise<Array<{ repository: string; digest: string }>> {
    if (manifests.length === 0) return [];
    return this.transaction((q) => deleteUnreachable(q, manifests, cutoff, keepReferrers));
  }

  async unusedLayerLinks(cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    const rows = await this.query<{ name: string; digest: string }>(UNUSED_LINKS_SQL, [cutoff]);
    return rows.map((r) => ({ repository: r.name, digest: r.digest }));
  }

  async removeLayerLinksIfUnused(links: Array<{ repository: string; digest: string }>, cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    if (links.length === 0) return [];
    return this.transaction((q) => removeUnusedLinks(q, links, cutoff));
  }

  async isBlobLive(digest: string, cutoff: Date, ignoring?: Array<{ repository: string; digest: string }>): Promise<boolean> {
    if (!ignoring || ignoring.length === 0) return (await this.query(BLOB_LIVE_SQL, [digest, cutoff])).length > 0;
    const rows = await this.query(BLOB_LIVE_IGNORING_SQL, [digest, cutoff, ignoring.map((m) => m.repository), ignoring.map((m) => m.digest)]);
    return rows.length > 0;
  }

  async beginBlobDeletions(digests: string[], cutoff: Date): Promise<Map<string, string[]>> {
    if (digests.length === 0) return new Map();
    // A session lock per blob says "a collector is deleting these bytes" for as long as this process
    // lives; one held elsewhere (another collector, here or on another replica) leaves its blob out, and
    // so does one this process is already deleting.
    const keyOf = new Map([...new Set(digests)].map((d) => [d, advisoryKey('deleting', d)]));
    const free = [...keyOf.values()].filter((key) => !this.locks.holds(key, 'gc'));
    const taken = await this.locks.tryLockMany(free, 'gc');
    const candidates = [...keyOf].filter(([, key]) => taken.has(key)).map(([digest]) => digest);
    let marked = new Map<string, string[]>();
    try {
      if (candidates.length > 0) marked = await this.transaction((q) => markUnlessLive(q, candidates, cutoff, this.holder));
    } finally {
      // live blobs (or all of them, on failure) are not being deleted after all
      await this.locks.unlockMany(candidates.filter((d) => !marked.has(d)).map((d) => keyOf.get(d)!), 'gc');
    }
    return marked;
  }

  async endBlobDeletions(digests: string[]): Promise<void> {
    if (digests.length === 0) return;
    await this.query('DELETE FROM blob_deletions WHERE digest = ANY($1::text[])', [digests]);
    await this.locks.unlockMany(digests.map((d) => advisoryKey('deleting', d)), 'gc');
  }

  // ---- upload sessions ----

  /**
   * The lock is a session advisory lock: it lasts until unlockUpload or until this process's session ends
   * (crash, kill, lost connection), whatever `ttlMs` says — a renewal only confirms it is still held.
   */
  async lockUpload(id: string, owner: string, _ttlMs: number): Promise<boolean> {
    return this.locks.tryLock(advisoryKey('upload', id), owner);
  }

  /** The PostgreSQL backend pid of the session holding this process's upload locks (pg_locks, pg_stat_activity). */
  lockSessionPid(): Promise<number> {
    return this.locks.backendPid();
  }

  async unlockUpload(id: string, owner: string): Promise<void> {
    await this.locks.unlock(advisoryKey('upload', id), owner);
  }

  // ---- rebuild ----

  async importRepository(repository: string, content: RepositoryContent, options: ImportOptions = {}): Promise<void> {
    await this.transaction((q) => importRepositoryContent(q, repository, content, options));
  }

  async storageFingerprints(): Promise<Map<string, string>> {
    const rows = await this.query<{ repository: string; fingerprint: string }>('SELECT repository, fingerprint FROM storage_fingerprints');
    return new Map(rows.map((r) => [r.repository, r.fingerprint]));
  }

  async storageCheckedAt(repository: string): Promise<number | undefined> {
    const rows = await this.query<{ checked_at: string }>('SELECT checked_at FROM storage_checks WHERE repository = $1', [repository]);
    return rows[0] ? Number(rows[0].checked_at) : undefined;
  }

  async recordStorageChecks(repositories: string[], at: number): Promise<void> {
    if (repositories.length === 0) return;
    await this.query(
      `INSERT INTO storage_checks (repository, checked_at) SELECT unnest($1::text[]), $2
       ON CONFLICT (repository) DO UPDATE SET checked_at = greatest(storage_checks.checked_at, excluded.checked_at)`,
      [repositories, at],
    );
  }

  async clear(): Promise<void> {
    await this.query('TRUNCATE tags, manifest_references, manifests, repository_blobs, repositories, blob_deletions, storage_fingerprints, storage_checks');
  }

  /** False until markBuilt: a new index must first be built from whatever storage already holds. */
  async isBuilt(): Promise<boolean> {
    return (await this.query("SELECT 1 FROM meta WHERE key = 'built'")).length > 0;
  }

  async markBuilt(): Promise<void> {
    await this.query("INSERT INTO meta (key, value) VALUES ('built', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [new Date().toISOString()]);
  }

  /** The index closes its session locks; the pool belongs to whoever opened it (postgres-backend.ts). */
  async close(): Promise<void> {
    await this.locks.close();
  }
}

/** Thrown inside putManifest's transaction to roll it back when an immutable tag points elsewhere. */
class ImmutableTag extends Error {
  constructor(readonly current: string) {
    super('immutable tag');
  }
}

function toManifest(row: Row | undefined): ManifestRecord | undefined {
  if (!row) return undefined;
  return { digest: row.digest as string, mediaType: row.media_type as ManifestMediaType, size: row.size as number };
}
