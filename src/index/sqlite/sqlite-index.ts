/**
 * The metadata index on SQLite (better-sqlite3, WAL). Several Pier processes may open the same file: WAL
 * lets readers and one writer work at once, and busy_timeout makes a writer wait for another's
 * transaction instead of failing.
 */
import Database from 'better-sqlite3';
import type { LinkResult, ManifestRecord, ManifestWrite, MetadataIndex, OutboxEvent, PutManifestResult, ReferrerRecord, TagRecord, UsageScope } from '../../registry/ports.ts';
import type { ManifestMediaType } from '../../registry/model/media-types.ts';
import { EVENTS_SCHEMA, SCHEMA, SCHEMA_VERSION, TAG_LISTING_INDEX } from './sqlite-schema.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';

type Row = Record<string, unknown>;

/** A deletion mark older than this was left by a collector that died; it no longer blocks anyone. */
const STALE_DELETION_MS = 60_000;

export class SqliteIndex implements MetadataIndex {
  private readonly db: Database.Database;
  private readonly statements: ReturnType<typeof prepare>;
  private readonly insertEvent: Database.Statement;
  /** Deliveries and webhooks (events/event-log.ts), over the same database as the outbox. */
  readonly eventLog: SqliteEventLog;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // the index is rebuildable; storage holds the durable truth
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`index ${file} has schema ${version}, newer than this Pier (${SCHEMA_VERSION})`);
    if (version < SCHEMA_VERSION) {
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } else {
      this.db.exec(TAG_LISTING_INDEX);
    }
    this.db.exec(EVENTS_SCHEMA);
    this.statements = prepare(this.db);
    this.insertEvent = this.db.prepare('INSERT INTO event_outbox (id, type, repository, occurred_at, payload) VALUES (?, ?, ?, ?, ?)');
    this.eventLog = new SqliteEventLog(this.db);
  }

  /** Call inside a transaction. */
  private storeEvents(events: OutboxEvent[] | undefined): void {
    for (const e of events ?? []) this.insertEvent.run(e.id, e.type, e.repository ?? null, e.occurredAt.getTime(), JSON.stringify(e.payload));
  }

  async appendEvents(events: OutboxEvent[]): Promise<void> {
    if (events.length > 0) this.db.transaction(() => this.storeEvents(events)).immediate();
  }

  private repositoryId(name: string, create: boolean, now: number): number | undefined {
    const row = this.statements.repositoryId.get(name) as Row | undefined;
    if (row) return row.id as number;
    if (!create) return undefined;
    return Number(this.statements.insertRepository.run(name, now).lastInsertRowid);
  }

  async addBlob(repository: string, digest: string, size: number, events?: OutboxEvent[]): Promise<LinkResult> {
    return this.db.transaction((): LinkResult => {
      const now = Date.now();
      if (this.beingDeleted(digest, now)) return 'deleting';
      const id = this.repositoryId(repository, true, now)!;
      this.statements.insertBlob.run(id, digest, size, now);
      this.storeEvents(events);
      return 'linked';
    }).immediate();
  }

  /** Call inside a transaction. Clears a stale mark left by a collector that died. */
  private beingDeleted(digest: string, now: number): boolean {
    const row = this.statements.deletionMark.get(digest) as Row | undefined;
    if (!row) return false;
    if (now - (row.started_at as number) < STALE_DELETION_MS) return true;
    this.statements.endDeletion.run(digest);
    return false;
  }

  async repositoryBlobSize(repository: string, digest: string): Promise<number | undefined> {
    const row = this.statements.blobSize.get(repository, digest) as Row | undefined;
    return row ? (row.size as number) : undefined;
  }

  async removeBlob(repository: string, digest: string, events?: OutboxEvent[]): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.statements.deleteBlob.run(repository, digest).changes > 0;
      if (removed) this.storeEvents(events);
      return removed;
    }).immediate();
  }

  async putManifest(write: ManifestWrite, options: { trustReferences?: boolean; events?: OutboxEvent[] } = {}): Promise<PutManifestResult> {
    const s = this.statements;
    return this.db.transaction((): PutManifestResult => {
      const now = Date.now();
      if (this.beingDeleted(write.digest, now)) return { kind: 'deleting' };
      const existing = s.repositoryId.get(write.repository) as Row | undefined;
      if (!options.trustReferences) {
        const repoId = existing?.id as number | undefined;
        const missing = [
          ...write.blobs.filter((d) => repoId === undefined || !s.blobSizeById.get(repoId, d)),
          ...write.children.filter((d) => repoId === undefined || !s.manifestById.get(repoId, d)),
        ];
        if (missing.length > 0) return { kind: 'missing', digests: missing };
      }
      const id = (existing?.id as number | undefined) ?? this.repositoryId(write.repository, true, now)!;
      const inserted = s.insertManifest.run(
        id,
        write.digest,
        write.mediaType,
        write.size,
        write.artifactType ?? null,
        write.subject ?? null,
        write.annotations ? JSON.stringify(write.annotations) : null,
        now,
        now,
      ).changes;
      if (inserted > 0) {
        for (const blob of write.blobs) s.insertReference.run(id, write.digest, 'blob', blob);
        for (const child of write.children) s.insertReference.run(id, write.digest, 'manifest', child);
      }
      if (write.tag !== undefined) s.upsertTag.run(id, write.tag, write.digest, now);
      this.storeEvents(options.events);
      return { kind: 'stored' };
    }).immediate();
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    return toManifest(this.statements.manifest.get(repository, digest) as Row | undefined);
  }

  async deleteManifest(repository: string, digest: string, events?: OutboxEvent[]): Promise<string[] | undefined> {
    const s = this.statements;
    return this.db.transaction(() => {
      const id = this.repositoryId(repository, false, 0);
      if (id === undefined) return undefined;
      const tags = (s.tagsOfDigest.all(id, digest) as Row[]).map((r) => r.name as string);
      const removed = s.deleteManifest.run(id, digest).changes;
      if (removed === 0) return undefined;
      this.storeEvents(events);
      return tags;
    }).immediate();
  }

  async missingManifests(repository: string, digests: string[]): Promise<string[]> {
    return digests.filter((d) => !this.statements.manifest.get(repository, d));
  }

  async missingBlobs(repository: string, digests: string[]): Promise<string[]> {
    return digests.filter((d) => !this.statements.blobSize.get(repository, d));
  }

  async resolveTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    return toManifest(this.statements.resolveTag.get(repository, tag) as Row | undefined);
  }

  async deleteTag(repository: string, tag: string, expectedDigest?: string, events?: OutboxEvent[]): Promise<boolean> {
    return this.db.transaction(() => {
      const removed =
        expectedDigest !== undefined
          ? this.statements.deleteTagIf.run(repository, tag, expectedDigest).changes > 0
          : this.statements.deleteTag.run(repository, tag).changes > 0;
      if (removed) this.storeEvents(events);
      return removed;
    }).immediate();
  }

  async listTags(repository: string, after: string | undefined, limit: number): Promise<string[] | undefined> {
    const id = this.repositoryId(repository, false, 0);
    if (id === undefined) return undefined;
    return this.statements.listTags.all(id, after ?? '', limit) as string[];
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return (this.statements.listRepositories.all(after ?? '', limit) as Row[]).map((r) => r.name as string);
  }

  async tagRecords(repository: string): Promise<TagRecord[]> {
    return (this.statements.tagRecords.all(repository) as Row[]).map((r) => ({
      tag: r.name as string,
      digest: r.digest as string,
      updatedAt: new Date(r.updated_at as number),
    }));
  }

  async usage(scope: UsageScope): Promise<number> {
    const row = ('repository' in scope
      ? this.statements.usageOfRepository.get(scope.repository)
      : this.statements.usageOfNamespace.get({ ns: scope.namespace, prefix: `${scope.namespace}/%` })) as Row;
    return (row.total as number | null) ?? 0;
  }

  async blobInScope(scope: UsageScope, digest: string): Promise<boolean> {
    const row = 'repository' in scope
      ? this.statements.blobSize.get(scope.repository, digest)
      : this.statements.blobInNamespace.get({ ns: scope.namespace, prefix: `${scope.namespace}/%`, digest });
    return row !== undefined;
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return this.repositoryId(repository, false, 0) !== undefined;
  }

  async listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]> {
    const rows = (artifactType === undefined
      ? this.statements.referrers.all(repository, subject)
      : this.statements.referrersOfType.all(repository, subject, artifactType)) as Row[];
    return rows.map((r) => {
      const record: ReferrerRecord = { digest: r.digest as string, mediaType: r.media_type as string, size: r.size as number };
      if (r.artifact_type) record.artifactType = r.artifact_type as string;
      if (r.annotations) record.annotations = JSON.parse(r.annotations as string) as Record<string, string>;
      return record;
    });
  }

  async unreachableManifests(cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>> {
    const rows = (keepReferrers ? this.statements.unreachableWithReferrers : this.statements.unreachable).all(cutoff.getTime()) as Row[];
    return rows.map((r) => ({ repository: r.name as string, digest: r.digest as string }));
  }

  async deleteManifestIfUnreachable(repository: string, digest: string, cutoff: Date, keepReferrers: boolean): Promise<boolean> {
    const s = this.statements;
    return this.db.transaction(() => {
      const id = this.repositoryId(repository, false, 0);
      if (id === undefined) return false;
      const check = keepReferrers ? s.reachableInRepoWithReferrers : s.reachableInRepo;
      if (check.get(id, digest)) return false;
      return s.deleteManifestBefore.run(id, digest, cutoff.getTime()).changes > 0;
    }).immediate();
  }

  async unusedLayerLinks(cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    return (this.statements.unusedLinks.all(cutoff.getTime()) as Row[]).map((r) => ({ repository: r.name as string, digest: r.digest as string }));
  }

  async removeLayerLinkIfUnused(repository: string, digest: string, cutoff: Date): Promise<boolean> {
    return this.statements.removeUnusedLink.run(repository, digest, cutoff.getTime()).changes > 0;
  }

  async isBlobLive(digest: string, cutoff: Date): Promise<boolean> {
    return this.statements.blobLive.get(digest, digest, digest, cutoff.getTime()) !== undefined;
  }

  async beginBlobDeletion(digest: string, cutoff: Date): Promise<string[] | undefined> {
    const s = this.statements;
    return this.db.transaction(() => {
      const now = Date.now();
      if (this.beingDeleted(digest, now)) return undefined; // another collector has it
      if (s.blobLive.get(digest, digest, digest, cutoff.getTime())) return undefined;
      const repositories = (s.linksOfBlob.all(digest) as Row[]).map((r) => r.name as string);
      s.dropLinksOfBlob.run(digest);
      s.beginDeletion.run(digest, now);
      return repositories;
    }).immediate();
  }

  async endBlobDeletion(digest: string): Promise<void> {
    this.statements.endDeletion.run(digest);
  }

  async lockUpload(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    return this.statements.lockUpload.run(id, owner, now + ttlMs, owner, now).changes > 0;
  }

  async unlockUpload(id: string, owner: string): Promise<void> {
    this.statements.unlockUpload.run(id, owner);
  }

  async importRepository(
    repository: string,
    content: { blobs: Array<{ digest: string; size: number }>; manifests: Array<Omit<ManifestWrite, 'repository' | 'tag'>>; tags: Array<{ tag: string; digest: string }> },
  ): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      const now = Date.now();
      const id = this.repositoryId(repository, true, now)!;
      for (const blob of content.blobs) s.insertBlob.run(id, blob.digest, blob.size, now);
      const known = new Set<string>();
      for (const m of content.manifests) {
        s.insertManifest.run(id, m.digest, m.mediaType, m.size, m.artifactType ?? null, m.subject ?? null, m.annotations ? JSON.stringify(m.annotations) : null, now, now);
        for (const blob of m.blobs) s.insertReference.run(id, m.digest, 'blob', blob);
        for (const child of m.children) s.insertReference.run(id, m.digest, 'manifest', child);
        known.add(m.digest);
      }
      for (const { tag, digest } of content.tags) if (known.has(digest)) s.upsertTag.run(id, tag, digest, now);
    }).immediate();
  }

  async clear(): Promise<void> {
    this.db.transaction(() => {
      for (const table of ['tags', 'manifest_references', 'manifests', 'repository_blobs', 'repositories', 'blob_deletions']) this.db.exec(`DELETE FROM ${table}`);
    }).immediate();
  }

  /** False until markBuilt: a new index must first be built from whatever storage already holds. */
  isBuilt(): boolean {
    return this.db.prepare("SELECT 1 FROM meta WHERE key = 'built'").get() !== undefined;
  }

  markBuilt(): void {
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('built', ?) ON CONFLICT DO UPDATE SET value = excluded.value").run(new Date().toISOString());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toManifest(row: Row | undefined): ManifestRecord | undefined {
  if (!row) return undefined;
  return { digest: row.digest as string, mediaType: row.media_type as ManifestMediaType, size: row.size as number };
}

function prepare(db: Database.Database) {
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
    // Inserts the lock, or takes it over when it is ours or has expired; otherwise changes nothing.
    lockUpload: db.prepare(
      `INSERT INTO upload_locks (id, owner, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
       WHERE upload_locks.owner = ? OR upload_locks.expires_at < ?`,
    ),
    unlockUpload: db.prepare('DELETE FROM upload_locks WHERE id = ? AND owner = ?'),
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
