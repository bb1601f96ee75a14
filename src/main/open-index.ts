/**
 * Opens the configured metadata index (index.backend): SQLite in the data directory (one machine, the
 * default) or PostgreSQL (any number of replicas). The PostgreSQL code, and `pg` with it, is loaded only
 * when configured. Besides the index, a backend gives the API-token store kept beside it and, when replicas
 * share it, the lease that keeps scheduled jobs on one replica at a time.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MetadataIndex } from '../registry/ports.ts';
import type { EventLog } from '../events/event-log.ts';
import type { ApiTokenStore } from '../auth/api-tokens/api-tokens.ts';
import type { JobLease } from '../jobs/job-lease.ts';
import type { IndexSettings } from '../index/index-settings.ts';
import { SqliteIndex } from '../index/sqlite/sqlite-index.ts';
import { SqliteApiTokenStore } from '../auth/api-tokens/sqlite-api-token-store.ts';

export type { IndexSettings };

export interface IndexBackend {
  index: MetadataIndex;
  /** Deliveries and webhooks of events (events/event-log.ts), in the same database as the index's outbox. */
  eventLog: EventLog;
  /**
   * Runs `build` (the index from storage) if this index was never built; true when it ran. With
   * `waitForBuilder` (a pool's workers but the first), waits for another process to build it instead.
   */
  buildIfNew(build: () => Promise<void>, options?: { waitForBuilder?: boolean }): Promise<boolean>;
  /** Records that the index was built from storage (after `pier reindex`). */
  markBuilt(): Promise<void>;
  /** The API-token store kept beside the index (closed by its user). */
  openTokenStore(): Promise<ApiTokenStore>;
  /** Present when several processes share the index and must take turns running scheduled jobs. */
  jobLease?: JobLease;
  /** What may be logged about the backend (never a password). */
  description: Record<string, unknown>;
  close(): Promise<void>;
}

/** `<data>/pier/index.db`: where the SQLite index lives unless index.sqlite.path says otherwise. */
export const defaultSqliteFile = (dataDir: string): string => join(dataDir, 'pier', 'index.db');

export async function openIndexBackend(settings: IndexSettings | undefined, dataDir: string): Promise<IndexBackend> {
  if (settings?.backend === 'postgres') {
    const [{ openPostgresBackend }, { describePostgres }] = await Promise.all([
      import('../index/postgres/postgres-backend.ts'),
      import('../index/postgres/postgres-connection.ts'),
    ]);
    const pg = await openPostgresBackend(settings.postgres);
    return {
      index: pg.index,
      eventLog: pg.eventLog,
      buildIfNew: (build) => pg.buildIfNew(build),
      markBuilt: () => pg.index.markBuilt(),
      openTokenStore: async () => pg.tokens,
      jobLease: pg.jobLease,
      description: { backend: 'postgres', ...describePostgres(settings.postgres), migrated: pg.migrated },
      close: () => pg.close(),
    };
  }
  const file = settings?.path ?? defaultSqliteFile(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SqliteIndex(file);
  return {
    index: sqlite,
    eventLog: sqlite.eventLog,
    async buildIfNew(build, options) {
      if (sqlite.isBuilt()) return false;
      // A pool's first worker builds a new index; the others, forked at the same time, wait for it.
      if (options?.waitForBuilder) {
        while (!sqlite.isBuilt()) await new Promise((resolve) => setTimeout(resolve, 50));
        return false;
      }
      await build();
      sqlite.markBuilt();
      return true;
    },
    markBuilt: async () => sqlite.markBuilt(),
    openTokenStore: async () => SqliteApiTokenStore.open(file),
    description: { backend: 'sqlite', file },
    close: () => sqlite.close(),
  };
}
