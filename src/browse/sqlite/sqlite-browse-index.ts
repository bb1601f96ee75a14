/**
 * The browse read model (browse-index.ts) over the SQLite metadata index: its own connection to the index
 * file (WAL lets it read while the registry writes), plus one table of its own, `image_facts`, created if
 * missing. Like `api_tokens`, the table is only ever added, so an older Pier still opens the file; unlike
 * them its rows are derived from content and may be dropped at any time.
 */
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../index/sqlite/sqlite-schema.ts';
import type { ActivityRecord, BrowseIndex, DailyActivity, DailyCount, ImageActivity, ImageFacts, ManifestSummary, RepositorySummary, SearchableMetadata, TagSummary } from '../browse-index.ts';

type Row = Record<string, unknown>;

export const IMAGE_FACTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS image_facts (
  digest TEXT PRIMARY KEY,        -- a manifest digest; facts of content never change
  facts TEXT NOT NULL             -- JSON: {"platforms": [...], "labels": {...}, "created": "..."}
) WITHOUT ROWID;
-- who pushed a manifest into a repository, and when it was last pulled; recorded, not derived (kept by reindex)
CREATE TABLE IF NOT EXISTS image_activity (
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  pushed_by TEXT,
  pushed_at INTEGER,
  last_pulled_at INTEGER,
  PRIMARY KEY (repository, digest)
) WITHOUT ROWID;
-- pushes and pulls per repository per UTC day, and the bytes stored per day (recorded; kept by reindex)
CREATE TABLE IF NOT EXISTS daily_activity (
  day TEXT NOT NULL,
  repository TEXT NOT NULL,
  pushes INTEGER NOT NULL,
  pulls INTEGER NOT NULL,
  PRIMARY KEY (day, repository)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_storage (
  day TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL
) WITHOUT ROWID;
`;

export class SqliteBrowseIndex implements BrowseIndex {
  private readonly statements: ReturnType<typeof prepare>;

  private constructor(private readonly db: Database.Database) {
    db.exec(IMAGE_FACTS_SCHEMA);
    this.statements = prepare(db);
  }

  /** Opens the index file (`<data>/pier/index.db`) on a connection of its own. */
  static open(file: string): SqliteBrowseIndex {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      db.pragma('synchronous = NORMAL'); // facts are derived and activity is a convenience: no fsync per write
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`index ${file} has schema ${version}, newer than this Pier (${SCHEMA_VERSION})`);
      return new SqliteBrowseIndex(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async repositories(): Promise<RepositorySummary[]> {
    return (this.statements.repositories.all() as Row[]).map(toSummary);
  }

  async repository(name: string): Promise<RepositorySummary | undefined> {
    const row = this.statements.repository.get(name) as Row | undefined;
    return row ? toSummary(row) : undefined;
  }

  async tags(repository: string): Promise<TagSummary[] | undefined> {
    const id = (this.statements.repositoryId.get(repository) as Row | undefined)?.id as number | undefined;
    if (id === undefined) return undefined;
    return (this.statements.tags.all(id) as Row[]).map((r) => ({
      tag: r.name as string,
      digest: r.digest as string,
      mediaType: r.media_type as string,
      manifestSize: r.size as number,
      imageSize: (this.statements.imageSize.get({ id, digest: r.digest }) as Row).total as number,
      updatedAt: new Date(r.updated_at as number),
      pushedAt: new Date(r.pushed_at as number),
    }));
  }

  async manifest(repository: string, digest: string): Promise<ManifestSummary | undefined> {
    const row = this.statements.manifest.get(repository, digest) as Row | undefined;
    if (!row) return undefined;
    const tags = (this.statements.tagsOf.all(row.repository_id, digest) as Row[]).map((r) => r.name as string);
    return {
      digest,
      mediaType: row.media_type as string,
      size: row.size as number,
      pushedAt: new Date(row.pushed_at as number),
      ...(row.artifact_type ? { artifactType: row.artifact_type as string } : {}),
      ...(row.subject ? { subject: row.subject as string } : {}),
      ...(row.annotations ? { annotations: JSON.parse(row.annotations as string) as Record<string, string> } : {}),
      tags,
    };
  }

  async blobSizes(repository: string, digests: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const digest of digests) {
      const row = this.statements.blobSize.get(repository, digest) as Row | undefined;
      if (row) sizes.set(digest, row.size as number);
    }
    return sizes;
  }

  async searchableMetadata(): Promise<Map<string, SearchableMetadata>> {
    const out = new Map<string, SearchableMetadata>();
    for (const r of this.statements.searchable.all() as Row[]) {
      const name = r.name as string;
      let entry = out.get(name);
      if (!entry) out.set(name, (entry = { labels: [], annotations: [] }));
      if (r.annotations) entry.annotations.push(...Object.entries(JSON.parse(r.annotations as string) as Record<string, string>));
      if (r.facts) entry.labels.push(...Object.entries((JSON.parse(r.facts as string) as ImageFacts).labels ?? {}));
    }
    return out;
  }

  async facts(digests: string[]): Promise<Map<string, ImageFacts>> {
    const out = new Map<string, ImageFacts>();
    for (const digest of digests) {
      const row = this.statements.facts.get(digest) as Row | undefined;
      if (row) out.set(digest, JSON.parse(row.facts as string) as ImageFacts);
    }
    return out;
  }

  async saveFacts(facts: Map<string, ImageFacts>): Promise<void> {
    this.db.transaction(() => {
      for (const [digest, f] of facts) this.statements.saveFacts.run(digest, JSON.stringify(f));
    })();
  }

  async manifestsWithoutFacts(limit: number): Promise<Array<{ repository: string; digest: string }>> {
    return (this.statements.withoutFacts.all(limit) as Row[]).map((r) => ({ repository: r.name as string, digest: r.digest as string }));
  }

  async recordActivity(records: ActivityRecord[]): Promise<void> {
    this.db.transaction(() => {
      for (const r of records) {
        this.statements.recordActivity.run({
          repository: r.repository,
          digest: r.digest,
          pushed_by: r.pushedBy ?? null,
          pushed_at: r.pushedAt?.getTime() ?? null,
          pulled: r.lastPulledAt?.getTime() ?? null,
        });
      }
    })();
  }

  async activity(repository: string): Promise<Map<string, ImageActivity>> {
    const out = new Map<string, ImageActivity>();
    for (const r of this.statements.activity.all(repository) as Row[]) {
      out.set(r.digest as string, {
        ...(r.pushed_by !== null ? { pushedBy: r.pushed_by as string } : {}),
        ...(r.pushed_at !== null ? { pushedAt: new Date(r.pushed_at as number) } : {}),
        ...(r.last_pulled_at !== null ? { lastPulledAt: new Date(r.last_pulled_at as number) } : {}),
      });
    }
    return out;
  }

  async addDailyCounts(counts: DailyCount[]): Promise<void> {
    this.db.transaction(() => {
      for (const c of counts) this.statements.addDaily.run(c.day, c.repository, c.pushes, c.pulls);
    })();
  }

  async storedBytes(): Promise<number> {
    return ((this.statements.storedBytes.get() as Row).total as number | null) ?? 0;
  }

  async recordStoredBytes(day: string, bytes: number): Promise<void> {
    this.statements.recordStored.run(day, bytes);
  }

  async dailyActivity(sinceDay: string): Promise<DailyActivity[]> {
    return (this.statements.dailyActivity.all({ since: sinceDay }) as Row[]).map((r) => ({
      day: r.day as string,
      pushes: (r.pushes as number | null) ?? 0,
      pulls: (r.pulls as number | null) ?? 0,
      storedBytes: (r.bytes as number | null) ?? null,
    }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** A repository's figures: tag count, bytes of its linked blobs, last push or tag move (0: none). */
const SUMMARY = `SELECT r.name,
    (SELECT COUNT(*) FROM tags t WHERE t.repository_id = r.id) AS tag_count,
    (SELECT SUM(b.size) FROM repository_blobs b WHERE b.repository_id = r.id) AS size,
    MAX(COALESCE((SELECT MAX(m.pushed_at) FROM manifests m WHERE m.repository_id = r.id), 0),
        COALESCE((SELECT MAX(t.updated_at) FROM tags t WHERE t.repository_id = r.id), 0)) AS last_push
  FROM repositories r`;

function toSummary(r: Row): RepositorySummary {
  return {
    name: r.name as string,
    tagCount: r.tag_count as number,
    sizeBytes: (r.size as number | null) ?? 0,
    lastPushAt: r.last_push ? new Date(r.last_push as number) : undefined,
  };
}

function prepare(db: Database.Database) {
  const repo = '(SELECT id FROM repositories WHERE name = ?)';
  return {
    repositoryId: db.prepare('SELECT id FROM repositories WHERE name = ?'),
    repositories: db.prepare(`${SUMMARY} ORDER BY r.name`),
    repository: db.prepare(`${SUMMARY} WHERE r.name = ?`),
    tags: db.prepare(
      `SELECT t.name, t.digest, t.updated_at, m.media_type, m.size, m.pushed_at FROM tags t
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE t.repository_id = ? ORDER BY t.updated_at DESC, t.name`,
    ),
    // The manifest, its children (for an index) and every blob they reference, each counted once.
    imageSize: db.prepare(
      `WITH RECURSIVE parts(digest) AS (
         SELECT @digest
         UNION SELECT r.target_digest FROM manifest_references r JOIN parts p ON r.manifest_digest = p.digest
           WHERE r.repository_id = @id AND r.kind = 'manifest')
       SELECT COALESCE((SELECT SUM(m.size) FROM manifests m WHERE m.repository_id = @id AND m.digest IN (SELECT digest FROM parts)), 0)
            + COALESCE((SELECT SUM(b.size) FROM repository_blobs b WHERE b.repository_id = @id AND b.digest IN (
                SELECT r.target_digest FROM manifest_references r WHERE r.repository_id = @id AND r.kind = 'blob'
                  AND r.manifest_digest IN (SELECT digest FROM parts))), 0) AS total`,
    ),
    manifest: db.prepare(
      `SELECT repository_id, media_type, size, pushed_at, artifact_type, subject, annotations FROM manifests
       WHERE repository_id = ${repo} AND digest = ?`,
    ),
    tagsOf: db.prepare('SELECT name FROM tags WHERE repository_id = ? AND digest = ? ORDER BY name'),
    blobSize: db.prepare(`SELECT size FROM repository_blobs WHERE repository_id = ${repo} AND digest = ?`),
    searchable: db.prepare(
      `SELECT r.name, m.annotations, f.facts FROM tags t
       JOIN repositories r ON r.id = t.repository_id
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       LEFT JOIN image_facts f ON f.digest = t.digest
       WHERE m.annotations IS NOT NULL OR f.facts IS NOT NULL`,
    ),
    facts: db.prepare('SELECT facts FROM image_facts WHERE digest = ?'),
    saveFacts: db.prepare('INSERT INTO image_facts (digest, facts) VALUES (?, ?) ON CONFLICT DO UPDATE SET facts = excluded.facts'),
    // A push (pushed_at given) replaces pusher and time; a pull only moves last_pulled_at forward.
    recordActivity: db.prepare(
      `INSERT INTO image_activity (repository, digest, pushed_by, pushed_at, last_pulled_at) VALUES (@repository, @digest, @pushed_by, @pushed_at, @pulled)
       ON CONFLICT (repository, digest) DO UPDATE SET
         pushed_by = CASE WHEN excluded.pushed_at IS NOT NULL THEN excluded.pushed_by ELSE image_activity.pushed_by END,
         pushed_at = COALESCE(excluded.pushed_at, image_activity.pushed_at),
         last_pulled_at = MAX(COALESCE(image_activity.last_pulled_at, 0), COALESCE(excluded.last_pulled_at, 0))`,
    ),
    activity: db.prepare('SELECT digest, pushed_by, pushed_at, NULLIF(last_pulled_at, 0) AS last_pulled_at FROM image_activity WHERE repository = ?'),
    addDaily: db.prepare(
      `INSERT INTO daily_activity (day, repository, pushes, pulls) VALUES (?, ?, ?, ?)
       ON CONFLICT (day, repository) DO UPDATE SET pushes = pushes + excluded.pushes, pulls = pulls + excluded.pulls`,
    ),
    storedBytes: db.prepare('SELECT SUM(size) AS total FROM (SELECT MAX(size) AS size FROM repository_blobs GROUP BY digest)'),
    recordStored: db.prepare('INSERT INTO daily_storage (day, bytes) VALUES (?, ?) ON CONFLICT (day) DO UPDATE SET bytes = excluded.bytes'),
    dailyActivity: db.prepare(
      `WITH days AS (SELECT day FROM daily_activity WHERE day >= @since UNION SELECT day FROM daily_storage WHERE day >= @since)
       SELECT d.day, (SELECT SUM(pushes) FROM daily_activity a WHERE a.day = d.day) AS pushes,
              (SELECT SUM(pulls) FROM daily_activity a WHERE a.day = d.day) AS pulls,
              (SELECT bytes FROM daily_storage s WHERE s.day = d.day) AS bytes
       FROM days d ORDER BY d.day`,
    ),
    withoutFacts: db.prepare(
      // Over manifests (tags_by_digest answers whether one is tagged), not over tags: a repository with
      // 500,000 tags on a few manifests costs a few lookups, not a scan of every tag each round.
      `SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
       WHERE NOT EXISTS (SELECT 1 FROM image_facts f WHERE f.digest = m.digest)
         AND EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = m.repository_id AND t.digest = m.digest)
       GROUP BY m.digest LIMIT ?`,
    ),
  };
}
