/**
 * Browser sessions in the metadata index's SQLite database (table `browser_sessions`, only ever added, like
 * `api_tokens`; `pier reindex` keeps it). Opens its own connection to the index file.
 */
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from '../../index/sqlite/sqlite-schema.ts';
import type { BrowserSession, SessionStore } from './browser-sessions.ts';

type Row = Record<string, unknown>;

export const BROWSER_SESSIONS_SCHEMA = `
CREATE TABLE IF NOT EXISTS browser_sessions (
  id TEXT PRIMARY KEY,            -- SHA-256 of the cookie's secret, hex; the secret is never stored
  owner TEXT NOT NULL,            -- the htpasswd user
  api_token_id TEXT,              -- the API token signed in with, if any
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

export class SqliteSessionStore implements SessionStore {
  private readonly statements: ReturnType<typeof prepare>;

  private constructor(private readonly db: Database.Database) {
    db.exec(BROWSER_SESSIONS_SCHEMA);
    this.statements = prepare(db);
  }

  static open(file: string): SqliteSessionStore {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`index ${file} has schema ${version}, newer than this Pier (${SCHEMA_VERSION})`);
      return new SqliteSessionStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async insert(s: BrowserSession): Promise<void> {
    this.statements.insert.run(s.id, s.user, s.apiTokenId ?? null, s.createdAt.getTime(), s.expiresAt.getTime());
  }

  async get(id: string): Promise<BrowserSession | undefined> {
    const row = this.statements.get.get(id) as Row | undefined;
    if (!row) return undefined;
    return {
      id: row.id as string,
      user: row.owner as string,
      ...(row.api_token_id ? { apiTokenId: row.api_token_id as string } : {}),
      createdAt: new Date(row.created_at as number),
      expiresAt: new Date(row.expires_at as number),
    };
  }

  async remove(id: string): Promise<void> {
    this.statements.remove.run(id);
  }

  async purge(now: Date): Promise<void> {
    this.statements.purge.run(now.getTime());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare(
      'INSERT INTO browser_sessions (id, owner, api_token_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)',
    ),
    get: db.prepare('SELECT id, owner, api_token_id, created_at, expires_at FROM browser_sessions WHERE id = ?'),
    remove: db.prepare('DELETE FROM browser_sessions WHERE id = ?'),
    purge: db.prepare('DELETE FROM browser_sessions WHERE expires_at <= ?'),
  };
}
