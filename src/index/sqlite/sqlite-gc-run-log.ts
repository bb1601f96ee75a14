/**
 * GC run records in the index's SQLite database (table `gc_runs`, only ever added, kept by `pier reindex`; the
 * oldest rows beyond 1,000 are dropped). Opens its own connection to the index file.
 */
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from './sqlite-schema.ts';
import type { GcRun, GcRunLog } from '../../registry/gc/gc-run-log.ts';

type Row = Record<string, unknown>;
const KEEP = 1000;

export const GC_RUNS_SCHEMA = `
CREATE TABLE IF NOT EXISTS gc_runs (
  id INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  trigger TEXT NOT NULL,          -- 'schedule' (pier serve) or 'command' (pier gc)
  tags_deleted INTEGER NOT NULL,
  manifests_deleted INTEGER NOT NULL,
  blobs_deleted INTEGER NOT NULL,
  bytes_freed INTEGER NOT NULL
);
`;

export class SqliteGcRunLog implements GcRunLog {
  private readonly statements: ReturnType<typeof prepare>;

  private constructor(private readonly db: Database.Database) {
    db.exec(GC_RUNS_SCHEMA);
    this.statements = prepare(db);
  }

  static open(file: string): SqliteGcRunLog {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`index ${file} has schema ${version}, newer than this Pier (${SCHEMA_VERSION})`);
      return new SqliteGcRunLog(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async record(run: GcRun): Promise<void> {
    this.db.transaction(() => {
      this.statements.insert.run(run.startedAt.getTime(), run.durationMs, run.trigger, run.tagsDeleted, run.manifestsDeleted, run.blobsDeleted, run.bytesFreed);
      this.statements.trim.run(KEEP);
    })();
  }

  async recent(limit: number): Promise<GcRun[]> {
    return (this.statements.recent.all(limit) as Row[]).map((r) => ({
      startedAt: new Date(r.started_at as number),
      durationMs: r.duration_ms as number,
      trigger: r.trigger as GcRun['trigger'],
      tagsDeleted: r.tags_deleted as number,
      manifestsDeleted: r.manifests_deleted as number,
      blobsDeleted: r.blobs_deleted as number,
      bytesFreed: r.bytes_freed as number,
    }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(
      'INSERT INTO gc_runs (started_at, duration_ms, trigger, tags_deleted, manifests_deleted, blobs_deleted, bytes_freed) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    trim: db.prepare('DELETE FROM gc_runs WHERE id <= (SELECT id FROM gc_runs ORDER BY id DESC LIMIT 1 OFFSET ?)'),
    recent: db.prepare('SELECT * FROM gc_runs ORDER BY started_at DESC, id DESC LIMIT ?'),
  };
}
