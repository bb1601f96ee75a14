/**
 * The metadata index on SQLite (better-sqlite3, WAL). Several Pier processes may open the same file: WAL
 * lets readers and one writer work at once, and busy_timeout makes a writer wait for another's
 * transaction instead of failing.
 */
import Database from 'better-sqlite3';
import type { ImportOptions, LinkResult, ManifestRecord, ManifestWrite, MetadataIndex, OutboxEvent, RepositoryContent, PutManifestResult, ReferrerRecord, TagRecord, UsageScope } from '../../registry/ports.ts';
import type { ManifestMediaType } from '../../registry/model/media-types.ts';
import { ADDED_TABLES, EVENTS_SCHEMA, SCHEMA, SCHEMA_VERSION, TAG_LISTING_INDEX } from './sqlite-schema.ts';
import { isAliveHere, thisHolder } from './lock-holder.ts';
import { SqliteEventLog } from './sqlite-event-log.ts';
import { prepareStatements, type SqliteStatements } from './sqlite-statements.ts';

type Row = Record<string, unknown>;

/** A deletion mark older than this was left by a collector that died; it no longer blocks anyone. */
const STALE_DELETION_MS = 60_000;

export class SqliteIndex implements MetadataIndex {
  private readonly db: Database.Database;
  private readonly statements: SqliteStatements;
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
    this.db.exec(ADDED_TABLES);
    this.db.function('pier_holder_alive', { deterministic: false }, (boot, pid, started) => (isAliveHere(String(boot), Number(pid), String(started)) ? 1 : 0));
    this.db.exec(EVENTS_SCHEMA);
    this.statements = prepareStatements(this.db);
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
      if (write.tag !== undefined && write.tagImmutable && existing) {
        const current = s.tagDigest.get(existing.id, write.tag) as Row | undefined;
        if (current && current.digest !== write.digest) return { kind: 'immutable', current: current.digest as string };
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

  async deleteManifestsIfUnreachable(manifests: Array<{ repository: string; digest: string }>, cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>> {
    const s = this.statements;
    const check = keepReferrers ? s.reachableInRepoWithReferrers : s.reachableInRepo;
    return this.db.transaction(() =>
      manifests.filter(({ repository, digest }) => {
        const id = this.repositoryId(repository, false, 0);
        if (id === undefined || check.get(id, digest)) return false;
        return s.deleteManifestBefore.run(id, digest, cutoff.getTime()).changes > 0;
      }),
    ).immediate();
  }

  async unusedLayerLinks(cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    return (this.statements.unusedLinks.all(cutoff.getTime()) as Row[]).map((r) => ({ repository: r.name as string, digest: r.digest as string }));
  }

  async removeLayerLinksIfUnused(links: Array<{ repository: string; digest: string }>, cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    const s = this.statements;
    return this.db.transaction(() => links.filter(({ repository, digest }) => s.removeUnusedLink.run(repository, digest, cutoff.getTime()).changes > 0)).immediate();
  }

  async isBlobLive(digest: string, cutoff: Date, ignoring?: Array<{ repository: string; digest: string }>): Promise<boolean> {
    if (!ignoring || ignoring.length === 0) return this.statements.blobLive.get(digest, digest, digest, cutoff.getTime()) !== undefined;
    const ignore = JSON.stringify(ignoring.map((m) => `${m.repository} ${m.digest}`));
    return this.statements.blobLiveIgnoring.get({ digest, cutoff: cutoff.getTime(), ignore }) !== undefined;
  }

  async beginBlobDeletions(digests: string[], cutoff: Date): Promise<Map<string, string[]>> {
    const s = this.statements;
    return this.db.transaction(() => {
      const now = Date.now();
      const marked = new Map<string, string[]>();
      for (const digest of digests) {
        if (this.beingDeleted(digest, now)) continue; // another collector has it
        if (s.blobLive.get(digest, digest, digest, cutoff.getTime())) continue;
        marked.set(digest, (s.linksOfBlob.all(digest) as Row[]).map((r) => r.name as string));
        s.dropLinksOfBlob.run(digest);
        s.beginDeletion.run(digest, now);
      }
      return marked;
    }).immediate();
  }

  async endBlobDeletions(digests: string[]): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      for (const digest of digests) s.endDeletion.run(digest);
    }).immediate();
  }

  async lockUpload(id: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const holder = thisHolder();
    return this.statements.lockUpload.run({ id, owner, ...holder, expires: now + ttlMs, now }).changes > 0;
  }

  async unlockUpload(id: string, owner: string): Promise<void> {
    this.statements.unlockUpload.run(id, owner);
  }

  async importRepository(repository: string, content: RepositoryContent, options: ImportOptions = {}): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      const now = Date.now();
      const stale = options.replaceOlderThan?.getTime();
      const known = new Set(content.manifests.map((m) => m.digest));
      const tags = content.tags.filter((t) => known.has(t.digest));
      let id = this.repositoryId(repository, stale === undefined, now);
      if (id === undefined) {
        if (content.blobs.length === 0 && content.manifests.length === 0) return this.setFingerprint(repository, options.fingerprint);
        id = this.repositoryId(repository, true, now)!;
      }
      if (stale !== undefined) {
        // Storage is the truth for whatever this index learnt before `stale`; anything newer was written
        // by a running Pier meanwhile (index first, then storage) and is kept.
        const wantTags = new Map(tags.map((t) => [t.tag, t.digest]));
        for (const row of s.tagRowsOf.all(id) as Row[]) {
          if ((row.updated_at as number) < stale && wantTags.get(row.name as string) !== row.digest) s.deleteTagById.run(id, row.name);
        }
        for (const row of s.manifestRowsOf.all(id) as Row[]) {
          if ((row.pushed_at as number) < stale && !known.has(row.digest as string)) s.deleteManifest.run(id, row.digest);
        }
        const wantBlobs = new Set(content.blobs.map((b) => b.digest));
        for (const row of s.blobRowsOf.all(id) as Row[]) {
          if ((row.created_at as number) < stale && !wantBlobs.has(row.digest as string)) s.deleteBlobById.run(id, row.digest);
        }
      }
      for (const blob of content.blobs) s.insertBlob.run(id, blob.digest, blob.size, now);
      for (const m of content.manifests) {
        const insert = stale === undefined ? s.insertManifest : s.insertManifestIfNew;
        insert.run(id, m.digest, m.mediaType, m.size, m.artifactType ?? null, m.subject ?? null, m.annotations ? JSON.stringify(m.annotations) : null, now, now);
        for (const blob of m.blobs) s.insertReference.run(id, m.digest, 'blob', blob);
        for (const child of m.children) s.insertReference.run(id, m.digest, 'manifest', child);
      }
      for (const { tag, digest } of tags) {
        if (stale === undefined) s.upsertTag.run(id, tag, digest, now);
        else s.adoptTag.run({ id, tag, digest, now, stale });
      }
      if (stale !== undefined && !s.repositoryHasContent.get(id, id, id)) s.deleteRepository.run(id);
      this.setFingerprint(repository, options.fingerprint);
    }).immediate();
  }

  /** Call inside a transaction. */
  private setFingerprint(repository: string, fingerprint: string | undefined): void {
    if (fingerprint !== undefined) this.statements.setFingerprint.run(repository, fingerprint);
  }

  async storageFingerprints(): Promise<Map<string, string>> {
    return new Map((this.statements.fingerprints.all() as Row[]).map((r) => [r.repository as string, r.fingerprint as string]));
  }

  async storageCheckedAt(repository: string): Promise<number | undefined> {
    return (this.statements.storageCheck.get(repository) as Row | undefined)?.checked_at as number | undefined;
  }

  async recordStorageChecks(repositories: string[], at: number): Promise<void> {
    if (repositories.length === 0) return;
    this.db.transaction(() => {
      for (const repository of repositories) this.statements.recordStorageCheck.run(repository, at);
    }).immediate();
  }

  async clear(): Promise<void> {
    this.db.transaction(() => {
      for (const table of ['tags', 'manifest_references', 'manifests', 'repository_blobs', 'repositories', 'blob_deletions', 'storage_fingerprints', 'storage_checks']) this.db.exec(`DELETE FROM ${table}`);
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
