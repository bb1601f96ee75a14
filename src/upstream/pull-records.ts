/**
 * What the pull-through cache fetched, and when it was last pulled: one row per cached manifest (table
 * `pull_through_pulls` in the index's SQLite file, on a connection of its own, like the API tokens), so
 * least-recently-pulled eviction survives restarts and sees the pulls of every process on the data directory.
 * Only manifests fetched from an upstream are recorded: content pushed here is never evicted.
 *
 * `size` is the manifest's bytes plus the sizes of the blobs it lists (config and layers); layers shared by
 * several images count once per image, so the total is an upper bound of the bytes on disk.
 * Pulls are noted in memory and written in one transaction every few seconds (and on close).
 */
import Database from 'better-sqlite3';

const SCHEMA = `CREATE TABLE IF NOT EXISTS pull_through_pulls (
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  last_pulled INTEGER NOT NULL,
  PRIMARY KEY (repository, digest)
);
CREATE INDEX IF NOT EXISTS pull_through_pulls_by_time ON pull_through_pulls (last_pulled);`;

export interface CachedManifestRecord {
  repository: string;
  digest: string;
  size: number;
  lastPulled: number;
}

export class PullRecords {
  private readonly db: Database.Database;
  private readonly pending = new Map<string, { repository: string; digest: string; at: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(file: string, private readonly now: () => number = Date.now) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 10000');
    this.db.exec(SCHEMA);
    this.timer = setInterval(() => this.flush(), 5_000);
    this.timer.unref();
  }

  /** A manifest was fetched from an upstream and cached. */
  recordCached(repository: string, digest: string, body: Buffer): void {
    this.db
      .prepare('INSERT INTO pull_through_pulls (repository, digest, size, last_pulled) VALUES (?, ?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET size = excluded.size, last_pulled = excluded.last_pulled')
      .run(repository, digest, body.length + listedBytes(body), this.now());
  }

  /** A cached manifest was pulled (written on the next flush). */
  touch(repository: string, digest: string): void {
    this.pending.set(`${repository}@${digest}`, { repository, digest, at: this.now() });
  }

  flush(): void {
    if (this.pending.size === 0) return;
    const update = this.db.prepare('UPDATE pull_through_pulls SET last_pulled = MAX(last_pulled, ?) WHERE repository = ? AND digest = ?');
    const entries = [...this.pending.values()];
    this.pending.clear();
    this.db.transaction(() => {
      for (const e of entries) update.run(e.at, e.repository, e.digest);
    })();
  }

  /** Every record, least recently pulled first. */
  all(): CachedManifestRecord[] {
    this.flush();
    return (this.db.prepare('SELECT repository, digest, size, last_pulled FROM pull_through_pulls ORDER BY last_pulled, repository, digest').all() as Array<Record<string, unknown>>).map((r) => ({
      repository: r.repository as string,
      digest: r.digest as string,
      size: Number(r.size),
      lastPulled: Number(r.last_pulled),
    }));
  }

  remove(repository: string, digest: string): void {
    this.db.prepare('DELETE FROM pull_through_pulls WHERE repository = ? AND digest = ?').run(repository, digest);
  }

  close(): void {
    clearInterval(this.timer);
    try {
      this.flush();
    } finally {
      this.db.close();
    }
  }
}

/** Sizes of the config and layers a manifest lists (0 for an index or anything unreadable). */
function listedBytes(body: Buffer): number {
  try {
    const m = JSON.parse(body.toString('utf8')) as { config?: { size?: unknown }; layers?: Array<{ size?: unknown }> };
    const sizes = [m.config?.size, ...(Array.isArray(m.layers) ? m.layers.map((l) => l?.size) : [])];
    return sizes.reduce<number>((sum, s) => sum + (typeof s === 'number' && Number.isSafeInteger(s) && s > 0 ? s : 0), 0);
  } catch {
    return 0;
  }
}
