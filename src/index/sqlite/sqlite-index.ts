/**
 * The metadata index on SQLite (better-sqlite3, WAL). Several Pier processes may open the same file: WAL
 * lets readers and one writer work at once, and busy_timeout makes a writer wait for another's
 * transaction instead of failing.
 */
import Database from 'better-sqlite3';
import type { ManifestRecord, ManifestWrite, MetadataIndex, ReferrerRecord } from '../../registry/ports.ts';
import type { ManifestMediaType } from '../../registry/model/media-types.ts';
import { SCHEMA, SCHEMA_VERSION } from './sqlite-schema.ts';

type Row = Record<string, unknown>;

export class SqliteIndex implements MetadataIndex {
  private readonly db: Database.Database;
  private readonly statements: ReturnType<typeof prepare>;

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
    }
    this.statements = prepare(this.db);
  }

  private repositoryId(name: string, create: boolean, now: number): number | undefined {
    const row = this.statements.repositoryId.get(name) as Row | undefined;
    if (row) return row.id as number;
    if (!create) return undefined;
    return Number(this.statements.insertRepository.run(name, now).lastInsertRowid);
  }

  async addBlob(repository: string, digest: string, size: number): Promise<void> {
    this.db.transaction(() => {
      const now = Date.now();
      const id = this.repositoryId(repository, true, now)!;
      this.statements.insertBlob.run(id, digest, size, now);
    }).immediate();
  }

  async repositoryBlobSize(repository: string, digest: string): Promise<number | undefined> {
    const row = this.statements.blobSize.get(repository, digest) as Row | undefined;
    return row ? (row.size as number) : undefined;
  }

  async removeBlob(repository: string, digest: string): Promise<boolean> {
    return this.statements.deleteBlob.run(repository, digest).changes > 0;
  }

  async putManifest(write: ManifestWrite): Promise<void> {
    const s = this.statements;
    this.db.transaction(() => {
      const now = Date.now();
      const id = this.repositoryId(write.repository, true, now)!;
      const inserted = s.insertManifest.run(
        id,
        write.digest,
        write.mediaType,
        write.size,
        write.artifactType ?? null,
        write.subject ?? null,
        write.annotations ? JSON.stringify(write.annotations) : null,
        now,
      ).changes;
      if (inserted > 0) {
        for (const blob of write.blobs) s.insertReference.run(id, write.digest, 'blob', blob);
        for (const child of write.children) s.insertReference.run(id, write.digest, 'manifest', child);
      }
      if (write.tag !== undefined) s.upsertTag.run(id, write.tag, write.digest, now);
    }).immediate();
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    return toManifest(this.statements.manifest.get(repository, digest) as Row | undefined);
  }

  async deleteManifest(repository: string, digest: string): Promise<string[] | undefined> {
    const s = this.statements;
    return this.db.transaction(() => {
      const id = this.repositoryId(repository, false, 0);
      if (id === undefined) return undefined;
      const tags = (s.tagsOfDigest.all(id, digest) as Row[]).map((r) => r.name as string);
      const removed = s.deleteManifest.run(id, digest).changes;
      return removed > 0 ? tags : undefined;
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

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.statements.deleteTag.run(repository, tag).changes > 0;
  }

  async listTags(repository: string, after: string | undefined, limit: number): Promise<string[] | undefined> {
    const id = this.repositoryId(repository, false, 0);
    if (id === undefined) return undefined;
    return (this.statements.listTags.all(id, after ?? '', limit) as Row[]).map((r) => r.name as string);
  }

  async listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return (this.statements.listRepositories.all(after ?? '', limit) as Row[]).map((r) => r.name as string);
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

  async clear(): Promise<void> {
    this.db.transaction(() => {
      for (const table of ['tags', 'manifest_references', 'manifests', 'repository_blobs', 'repositories']) this.db.exec(`DELETE FROM ${table}`);
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
      'INSERT INTO repository_blobs (repository_id, digest, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET size = excluded.size',
    ),
    blobSize: db.prepare(`SELECT size FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    deleteBlob: db.prepare(`DELETE FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    insertManifest: db.prepare(
      'INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
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
    listTags: db.prepare('SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?'),
    listRepositories: db.prepare('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
    referrers: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository_id = ${repo} AND subject = ? ORDER BY digest`,
    ),
    referrersOfType: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests WHERE repository_id = ${repo} AND subject = ? AND artifact_type = ? ORDER BY digest`,
    ),
  };
}
