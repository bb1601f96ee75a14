/**
 * Opens everything Pier keeps in PostgreSQL: the pool, the schema (migrated at start), the metadata index,
 * the API-token store and the job lease. One pool per process; the index's session locks use a connection
 * of their own.
 */
import type { Pool } from 'pg';
import { advisoryKey } from './advisory-keys.ts';
import { clientConfig, createPool, type PostgresSettings } from './postgres-connection.ts';
import { migrate } from './postgres-migrations.ts';
import { PostgresIndex } from './postgres-index.ts';
import { PostgresEventLog } from './postgres-event-log.ts';
import { PostgresJobLease } from './postgres-job-lease.ts';
import { SessionLocks } from './postgres-session-locks.ts';
import { PostgresApiTokenStore } from '../../auth/api-tokens/postgres-api-token-store.ts';

export interface PostgresBackend {
  pool: Pool;
  index: PostgresIndex;
  /** Deliveries and webhooks of events, beside the outbox the index writes. */
  eventLog: PostgresEventLog;
  tokens: PostgresApiTokenStore;
  jobLease: PostgresJobLease;
  /** Schema versions this start applied (empty when the database was up to date). */
  migrated: number[];
  /** Runs `build` if the index was never built; replicas starting together wait for the first to finish. */
  buildIfNew(build: () => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
}

const BUILD_LOCK = advisoryKey('index', 'first-build');

/** `markFloorMs`: see PostgresIndex (tests shorten it). */
export async function openPostgresBackend(settings: PostgresSettings, options: { markFloorMs?: number } = {}): Promise<PostgresBackend> {
  const pool = await createPool(settings, 'pier');
  let migrated: number[];
  try {
    const client = await pool.connect();
    try {
      migrated = await migrate(client);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  const locks = new SessionLocks(await clientConfig(settings, 'pier-locks'));
  const index = new PostgresIndex(pool, locks, options);
  return {
    pool,
    index,
    eventLog: new PostgresEventLog(pool),
    tokens: new PostgresApiTokenStore(pool),
    jobLease: new PostgresJobLease(pool),
    migrated,
    async buildIfNew(build) {
      if (await index.isBuilt()) return false;
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [BUILD_LOCK]);
        try {
          if (await index.isBuilt()) return false;
          await build();
          await index.markBuilt();
          return true;
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [BUILD_LOCK]);
        }
      } finally {
        client.release();
      }
    },
    async close() {
      await index.close();
      await pool.end();
    },
  };
}
