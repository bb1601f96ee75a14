/**
 * API tokens in the PostgreSQL index's database (table `api_tokens`, created by the index's migrations),
 * so every replica sees a token the moment any of them creates or revokes it.
 */
import type { Pool } from 'pg';
import type { ApiTokenStore, StoredApiToken, TokenScopeEntry } from './api-tokens.ts';

type Row = Record<string, unknown>;

const COLUMNS = 'id, owner, name, secret_hash, scope, created_at, expires_at, last_used_at';
const UNIQUE_VIOLATION = '23505';

export class PostgresApiTokenStore implements ApiTokenStore {
  /** Uses the index's pool; closing the store leaves the pool to its owner. */
  constructor(private readonly pool: Pool) {}

  async insert(token: StoredApiToken): Promise<boolean> {
    try {
      await this.pool.query(
        'INSERT INTO api_tokens (id, owner, name, secret_hash, scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [token.id, token.user, token.name, token.secretHash, JSON.stringify(token.scope), token.createdAt, token.expiresAt ?? null],
      );
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  async get(id: string): Promise<StoredApiToken | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT ${COLUMNS} FROM api_tokens WHERE id = $1`, [id]);
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  async list(user?: string): Promise<StoredApiToken[]> {
    const { rows } =
      user === undefined
        ? await this.pool.query<Row>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY owner, created_at, name`)
        : await this.pool.query<Row>(`SELECT ${COLUMNS} FROM api_tokens WHERE owner = $1 ORDER BY created_at, name`, [user]);
    return rows.map(toToken);
  }

  async remove(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM api_tokens WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async touch(id: string, at: Date): Promise<void> {
    // Never moves backwards when two replicas record uses at once.
    await this.pool.query('UPDATE api_tokens SET last_used_at = greatest(last_used_at, $1) WHERE id = $2', [at, id]);
  }

  async close(): Promise<void> {}
}

function toToken(row: Row): StoredApiToken {
  return {
    id: row.id as string,
    user: row.owner as string,
    name: row.name as string,
    secretHash: row.secret_hash as string,
    scope: JSON.parse(row.scope as string) as TokenScopeEntry[],
    createdAt: row.created_at as Date,
    ...(row.expires_at !== null ? { expiresAt: row.expires_at as Date } : {}),
    ...(row.last_used_at !== null ? { lastUsedAt: row.last_used_at as Date } : {}),
  };
}
