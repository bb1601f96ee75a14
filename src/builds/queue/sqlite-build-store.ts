/**
 * BuildStore in the metadata index's SQLite file, on a connection of its own (WAL, busy_timeout), like
 * the API token store. Its tables are only ever added (CREATE TABLE IF NOT EXISTS, all prefixed
 * `build_`), so an index made before builds existed gains them and an older Pier still opens the file.
 * Like API tokens they are not derived from storage: `pier reindex` leaves them alone.
 */
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import type { BuildDefinition } from '../model/definition.ts';
import type { BuildOutcome, BuildRecord, BuildRequest, BuildStatus, BuildStore, ImageLink, LogLine, TaggedImage } from './build-store.ts';

export const BUILDS_SCHEMA = `
CREATE TABLE IF NOT EXISTS build_definitions (
  id TEXT PRIMARY KEY,
  repository TEXT NOT NULL,
  definition TEXT NOT NULL,          -- JSON, with source credentials and the webhook secret
  trigger_token_hash TEXT            -- SHA-256 of the trigger URL's token, hex
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS build_jobs (
  id TEXT PRIMARY KEY,
  definition_id TEXT NOT NULL,
  repository TEXT NOT NULL,
  status TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  request TEXT NOT NULL,             -- JSON BuildRequest
  cascade_id TEXT,
  cascade_seq INTEGER NOT NULL DEFAULT 0,
  queued_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  owner TEXT,
  lease_until INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  outcome TEXT                       -- JSON BuildOutcome without status
);
CREATE INDEX IF NOT EXISTS build_jobs_by_status ON build_jobs (status, queued_at);
CREATE INDEX IF NOT EXISTS build_jobs_by_repository ON build_jobs (repository, queued_at);
CREATE INDEX IF NOT EXISTS build_jobs_by_cascade ON build_jobs (cascade_id, cascade_seq);
CREATE TABLE IF NOT EXISTS build_logs (
  build_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (build_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS build_tagged_images (
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  platform TEXT NOT NULL,
  digest TEXT NOT NULL,
  chain_id TEXT NOT NULL,
  layer_count INTEGER NOT NULL,
  PRIMARY KEY (repository, tag, platform)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS build_tagged_images_by_chain ON build_tagged_images (chain_id);
CREATE TABLE IF NOT EXISTS build_links (
  repository TEXT NOT NULL,
  tag TEXT NOT NULL,
  platform TEXT NOT NULL,
  digest TEXT NOT NULL,
  base_repository TEXT NOT NULL,
  base_tag TEXT NOT NULL,
  base_digest TEXT NOT NULL,
  origin TEXT NOT NULL,
  definition_id TEXT,
  PRIMARY KEY (repository, tag, platform)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS build_links_by_base ON build_links (base_repository, base_tag);
`;

type Row = Record<string, any>;

function toRecord(row: Row): BuildRecord {
  const request = JSON.parse(row.request as string) as BuildRequest;
  const outcome = row.outcome ? (JSON.parse(row.outcome as string) as Omit<BuildOutcome, 'status'>) : {};
  return {
    ...request,
    id: row.id,
    status: row.status as BuildStatus,
    queuedAt: new Date(row.queued_at),
    ...(row.started_at !== null ? { startedAt: new Date(row.started_at) } : {}),
    ...(row.finished_at !== null ? { finishedAt: new Date(row.finished_at) } : {}),
    attempts: row.attempts,
    cancelRequested: row.cancel_requested === 1,
    ...(outcome.builder ? { builder: outcome.builder } : {}),
    ...(outcome.builtCommit ? { builtCommit: outcome.builtCommit } : {}),
    ...(outcome.digest ? { digest: outcome.digest } : {}),
    ...(outcome.error ? { error: outcome.error } : {}),
    bases: outcome.bases ?? [],
  };
}

const dedupKey = (r: BuildRequest): string => JSON.stringify([r.definitionId, r.sourceType, r.sourceName, r.commit ?? null, [...r.tags].sort(), r.archive?.id ?? null]);

export class SqliteBuildStore implements BuildStore {
  private constructor(private readonly db: Database.Database) {
    db.exec(BUILDS_SCHEMA);
  }

  static open(file: string): SqliteBuildStore {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      return new SqliteBuildStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async putDefinition(d: BuildDefinition): Promise<void> {
    this.db
      .prepare('INSERT INTO build_definitions (id, repository, definition) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET repository = excluded.repository, definition = excluded.definition')
      .run(d.id, d.repository, JSON.stringify(d));
  }

  async getDefinition(id: string): Promise<BuildDefinition | undefined> {
    const row = this.db.prepare('SELECT definition FROM build_definitions WHERE id = ?').get(id) as Row | undefined;
    return row ? (JSON.parse(row.definition) as BuildDefinition) : undefined;
  }

  async listDefinitions(repository?: string): Promise<BuildDefinition[]> {
    const rows = (repository === undefined
      ? this.db.prepare('SELECT definition FROM build_definitions ORDER BY id').all()
      : this.db.prepare('SELECT definition FROM build_definitions WHERE repository = ? ORDER BY id').all(repository)) as Row[];
    return rows.map((r) => JSON.parse(r.definition) as BuildDefinition);
  }

  async deleteDefinition(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM build_definitions WHERE id = ?').run(id).changes > 0;
  }

  async setTriggerToken(id: string, tokenHash: string): Promise<void> {
    this.db.prepare('UPDATE build_definitions SET trigger_token_hash = ? WHERE id = ?').run(tokenHash, id);
  }

  async triggerTokenHash(id: string): Promise<string | undefined> {
    const row = this.db.prepare('SELECT trigger_token_hash FROM build_definitions WHERE id = ?').get(id) as Row | undefined;
    return row?.trigger_token_hash ?? undefined;
  }

  async enqueue(request: BuildRequest, now: Date): Promise<{ build: BuildRecord; deduplicated: boolean }> {
    const key = dedupKey(request);
    return this.db.transaction(() => {
      const existing = this.db.prepare("SELECT * FROM build_jobs WHERE dedup_key = ? AND status = 'queued' LIMIT 1").get(key) as Row | undefined;
      if (existing) return { build: toRecord(existing), deduplicated: true };
      const id = randomUUID();
      this.db
        .prepare("INSERT INTO build_jobs (id, definition_id, repository, status, dedup_key, request, cascade_id, cascade_seq, queued_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?)")
        .run(id, request.definitionId, request.repository, key, JSON.stringify(request), request.cascade?.id ?? null, request.cascade?.seq ?? 0, now.getTime());
      return { build: toRecord(this.db.prepare('SELECT * FROM build_jobs WHERE id = ?').get(id) as Row), deduplicated: false };
    }).immediate();
  }

  async claim(owner: string, limit: number, leaseMs: number, now: Date): Promise<BuildRecord | undefined> {
    return this.db.transaction(() => {
      const running = (this.db.prepare("SELECT count(*) AS n FROM build_jobs WHERE status = 'running'").get() as Row).n as number;
      if (running >= limit) return undefined;
      const row = this.db
        .prepare(
          `SELECT * FROM build_jobs AS j WHERE status = 'queued' AND NOT EXISTS (
             SELECT 1 FROM build_jobs AS p WHERE j.cascade_id IS NOT NULL AND p.cascade_id = j.cascade_id
               AND p.cascade_seq < j.cascade_seq AND p.status IN ('queued', 'running'))
           ORDER BY queued_at, cascade_seq LIMIT 1`,
        )
        .get() as Row | undefined;
      if (!row) return undefined;
      this.db
        .prepare("UPDATE build_jobs SET status = 'running', owner = ?, lease_until = ?, started_at = ?, attempts = attempts + 1 WHERE id = ?")
        .run(owner, now.getTime() + leaseMs, now.getTime(), row.id);
      return toRecord(this.db.prepare('SELECT * FROM build_jobs WHERE id = ?').get(row.id) as Row);
    }).immediate();
  }

  async renew(id: string, owner: string, leaseMs: number, now: Date): Promise<{ held: boolean; cancelRequested: boolean }> {
    const changed = this.db.prepare("UPDATE build_jobs SET lease_until = ? WHERE id = ? AND owner = ? AND status = 'running'").run(now.getTime() + leaseMs, id, owner).changes;
    const row = this.db.prepare('SELECT cancel_requested FROM build_jobs WHERE id = ?').get(id) as Row | undefined;
    return { held: changed > 0, cancelRequested: row?.cancel_requested === 1 };
  }

  async finish(id: string, owner: string, outcome: BuildOutcome, now: Date): Promise<boolean> {
    const { status, ...rest } = outcome;
    return (
      this.db
        .prepare("UPDATE build_jobs SET status = ?, finished_at = ?, outcome = ?, owner = NULL, lease_until = NULL WHERE id = ? AND owner = ? AND status = 'running'")
        .run(status, now.getTime(), JSON.stringify(rest), id, owner).changes > 0
    );
  }

  async requeueExpired(now: Date): Promise<string[]> {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT id FROM build_jobs WHERE status = 'running' AND lease_until < ?").all(now.getTime()) as Row[];
      for (const row of rows) this.db.prepare("UPDATE build_jobs SET status = 'queued', owner = NULL, lease_until = NULL WHERE id = ?").run(row.id);
      return rows.map((r) => r.id as string);
    }).immediate();
  }

  async release(owner: string): Promise<void> {
    this.db.prepare("UPDATE build_jobs SET status = 'queued', owner = NULL, lease_until = NULL WHERE owner = ? AND status = 'running'").run(owner);
  }

  async cancel(id: string, now: Date): Promise<BuildRecord | undefined> {
    return this.db.transaction(() => {
      this.db.prepare("UPDATE build_jobs SET status = 'cancelled', finished_at = ?, cancel_requested = 1 WHERE id = ? AND status = 'queued'").run(now.getTime(), id);
      this.db.prepare("UPDATE build_jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'").run(id);
      const row = this.db.prepare('SELECT * FROM build_jobs WHERE id = ?').get(id) as Row | undefined;
      return row ? toRecord(row) : undefined;
    }).immediate();
  }

  async getBuild(id: string): Promise<BuildRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM build_jobs WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  async listBuilds(filter: { repository?: string; definitionId?: string; status?: BuildStatus; limit: number }): Promise<BuildRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.repository !== undefined) (where.push('repository = ?'), args.push(filter.repository));
    if (filter.definitionId !== undefined) (where.push('definition_id = ?'), args.push(filter.definitionId));
    if (filter.status !== undefined) (where.push('status = ?'), args.push(filter.status));
    const sql = `SELECT * FROM build_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY queued_at DESC, cascade_seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit) as Row[]).map(toRecord);
  }

  async appendLog(id: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    this.db.transaction(() => {
      const last = (this.db.prepare('SELECT max(seq) AS seq FROM build_logs WHERE build_id = ?').get(id) as Row).seq as number | null;
      const insert = this.db.prepare('INSERT INTO build_logs (build_id, seq, text) VALUES (?, ?, ?)');
      lines.forEach((text, n) => insert.run(id, (last ?? 0) + n + 1, text));
    }).immediate();
  }

  async readLog(id: string, afterSeq: number, limit: number): Promise<LogLine[]> {
    return this.db.prepare('SELECT seq, text FROM build_logs WHERE build_id = ? AND seq > ? ORDER BY seq LIMIT ?').all(id, afterSeq, limit) as LogLine[];
  }

  async recordTaggedImages(repository: string, tag: string, images: TaggedImage[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM build_tagged_images WHERE repository = ? AND tag = ?').run(repository, tag);
      const insert = this.db.prepare('INSERT INTO build_tagged_images (repository, tag, platform, digest, chain_id, layer_count) VALUES (?, ?, ?, ?, ?, ?)');
      for (const i of images) insert.run(repository, tag, i.platform, i.digest, i.chainId, i.layerCount);
    }).immediate();
  }

  async findByChain(chainIds: string[]): Promise<TaggedImage[]> {
    if (chainIds.length === 0) return [];
    const rows = this.db.prepare(`SELECT * FROM build_tagged_images WHERE chain_id IN (${chainIds.map(() => '?').join(',')})`).all(...chainIds) as Row[];
    return rows.map((r) => ({ repository: r.repository, tag: r.tag, platform: r.platform, digest: r.digest, chainId: r.chain_id, layerCount: r.layer_count }));
  }

  async setLinks(repository: string, tag: string, links: ImageLink[]): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM build_links WHERE repository = ? AND tag = ?').run(repository, tag);
      const insert = this.db.prepare('INSERT INTO build_links (repository, tag, platform, digest, base_repository, base_tag, base_digest, origin, definition_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const l of links) insert.run(repository, tag, l.platform, l.digest, l.baseRepository, l.baseTag, l.baseDigest, l.origin, l.definitionId ?? null);
    }).immediate();
  }

  async linksOnImage(repository: string, tag: string): Promise<ImageLink[]> {
    return this.links(this.db.prepare('SELECT * FROM build_links WHERE repository = ? AND tag = ? ORDER BY platform').all(repository, tag) as Row[]);
  }

  async linksOnBase(repository: string, tag: string): Promise<ImageLink[]> {
    return this.links(this.db.prepare('SELECT * FROM build_links WHERE base_repository = ? AND base_tag = ? ORDER BY repository, tag, platform').all(repository, tag) as Row[]);
  }

  private links(rows: Row[]): ImageLink[] {
    return rows.map((r) => ({
      repository: r.repository, tag: r.tag, platform: r.platform, digest: r.digest, baseRepository: r.base_repository, baseTag: r.base_tag, baseDigest: r.base_digest, origin: r.origin, ...(r.definition_id ? { definitionId: r.definition_id } : {}),
    }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
