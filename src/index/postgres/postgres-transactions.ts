/**
 * The small toolkit every PostgreSQL index method is written with: a transaction on one pooled connection
 * (retried when PostgreSQL aborts it to break a deadlock), digest locks, and repository ids.
 */
import type { Pool, PoolClient } from 'pg';
import { advisoryKey } from './advisory-keys.ts';

/** A connection, or the pool, to run statements on. */
export type Query = Pick<PoolClient, 'query'>;

/** Transactions PostgreSQL aborted to break a deadlock or a serialization conflict are run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 5;

/** Runs `work` in one transaction (READ COMMITTED) on one pooled connection. */
export async function inTransaction<T>(pool: Pool, work: (q: Query) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => (broken = true));
      if (attempt < ATTEMPTS && RETRYABLE.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

/**
 * Transaction-level advisory locks on digests: 'shared' for writes that make a digest reachable,
 * 'exclusive' for garbage-collection steps that remove reachability (postgres-index.ts explains why).
 * Call first in a transaction, before touching rows.
 */
export async function lockDigests(q: Query, digests: string[], mode: 'shared' | 'exclusive'): Promise<void> {
  const keys = [...new Set(digests.map((d) => advisoryKey('digest', d)))].sort();
  if (keys.length === 0) return;
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  await q.query(`SELECT ${fn}(k) FROM unnest($1::bigint[]) AS k`, [keys]);
}

/** The id of a repository, created when `create` and missing. */
export async function repositoryId(q: Query, name: string, create: boolean): Promise<number | undefined> {
  const found = await q.query<{ id: number }>('SELECT id FROM repositories WHERE name = $1', [name]);
  if (found.rows[0]) return found.rows[0].id;
  if (!create) return undefined;
  // DO NOTHING waits for a concurrent insert of the same name to commit; the SELECT after it then sees it.
  const inserted = await q.query<{ id: number }>('INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id', [name]);
  if (inserted.rows[0]) return inserted.rows[0].id;
  return (await q.query<{ id: number }>('SELECT id FROM repositories WHERE name = $1', [name])).rows[0]!.id;
}
