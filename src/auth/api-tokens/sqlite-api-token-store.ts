/**
 * API tokens in the metadata index's SQLite database (table `api_tokens`, see index/sqlite/sqlite-schema.ts).
 * `open(file)` opens its own connection to the index file (WAL, busy_timeout, as SqliteIndex does), so
 * `pier serve`, `pier token` and other processes on the same data directory see the same tokens at once.
 */
import Database from 'better-sqlite3';
import { API_TOKENS_SCHEMA, SCHEMA_VERSION } from '../../index/sqlite/sqlite-schema.ts';
import type { ApiTokenStore, StoredApiToken, TokenScopeEntry } from './api-tokens.ts';

type Row = Record<string, unknown>;

export class SqliteApiTokenStore implements ApiTokenStore {
  private readonly statements: ReturnType<typeof prepare>;

  /** Uses a database handle (the table is created if missing); `close()` closes it only when `ownsDatabase`. */
  constructor(
    private readonly db: Database.Database,
    private readonly ownsDatabase = false,
  ) {
    db.exec(API_TOKENS_SCHEMA);
    this.statements = prepare(db);
  }

  /** Opens the index file (`<data>/pier/index.db`) on a connection of its own. */
  static open(file: string): SqliteApiTokenStore {
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 10000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`index ${file} has schema ${version}, newer than this Pier (${SCHEMA_VERSION})`);
      return new SqliteApiTokenStore(db, true);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async insert(token: StoredApiToken): Promise<boolean> {
    try {
      this.statements.insert.run({
        id: token.id,
        owner: token.user,
        name: token.name,
        secret_hash: token.secretHash,
        scope: JSON.stringify(token.scope),
        created_at: token.createdAt.getTime(),
        expires_at: token.expiresAt?.getTime() ?? null,
      });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
      throw error;
    }
  }

  async get(id: string): Promise<StoredApiToken | undefined> {
    const row = this.statements.get.get(id) as Row | undefined;
    return row ? toToken(row) : undefined;
  }

  async list(user?: string): Promise<StoredApiToken[]> {
    const rows = (user === undefined ? this.statements.listAll.all() : this.statements.listOf.all(user)) as Row[];
    return rows.map(toToken);
  }

  async remove(id: string): Promise<boolean> {
    return this.statements.remove.run(id).changes > 0;
  }

  async touch(id: string, at: Date): Promise<void> {
    this.statements.touch.run(at.getTime(), id);
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.open) this.db.close();
  }
}

function toToken(row: Row): StoredApiToken {
  return {
    id: row.id as string,
    user: row.owner as string,
    name: row.name as string,
    secretHash: row.secret_hash as string,
    scope: JSON.parse(row.scope as string) as TokenScopeEntry[],
    createdAt: new Date(row.created_at as number),
    ...(row.expires_at !== null ? { expiresAt: new Date(row.expires_at as number) } : {}),
    ...(row.last_used_at !== null ? { lastUsedAt: new Date(row.last_used_at as number) } : {}),
  };
}

function prepare(db: Database.Database) {
  const columns = 'id, owner, name, secret_hash, scope, created_at, expires_at, last_used_at';
  return {
    insert: db.prepare(
      'INSERT INTO api_tokens (id, owner, name, secret_hash, scope, created_at, expires_at) VALUES (@id, @owner, @name, @secret_hash, @scope, @created_at, @expires_at)',
    ),
    get: db.prepare(`SELECT ${columns} FROM api_tokens WHERE id = ?`),
    listAll: db.prepare(`SELECT ${columns} FROM api_tokens ORDER BY owner, created_at, name`),
    listOf: db.prepare(`SELECT ${columns} FROM api_tokens WHERE owner = ? ORDER BY created_at, name`),
    remove: db.prepare('DELETE FROM api_tokens WHERE id = ?'),
    // Never moves backwards when two processes record uses at once.
    touch: db.prepare('UPDATE api_tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?'),
  };
}
