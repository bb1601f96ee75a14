/**
 * What the web UI and the admin API's browsing resources run on, opened and closed together: the browse read
 * model with its background fact filling, the activity recorder (pusher, last pull), browser sessions and
 * the GC run log — each on its own connection to the SQLite index file. Beside a PostgreSQL index, sessions and
 * GC runs are kept in `pier/web.db` of this data directory and browsing is not available (the browse read
 * model has a SQLite adapter only). Part of the composition root.
 */
import { join } from 'node:path';
import type { IndexSettings } from '../index/index-settings.ts';
import { indexFile } from './open-registry.ts';
import type { Logger } from '../observability/logger.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import { SqliteBrowseIndex } from '../browse/sqlite/sqlite-browse-index.ts';
import { startFactFilling } from '../browse/fill-facts.ts';
import { startActivityRecorder, type ActivityRecorder } from '../browse/activity-recorder.ts';
import { BrowserSessions } from '../auth/sessions/browser-sessions.ts';
import { SqliteSessionStore } from '../auth/sessions/sqlite-session-store.ts';
import { SqliteGcRunLog } from '../index/sqlite/sqlite-gc-run-log.ts';
import type { GcRunLog } from '../registry/gc/gc-run-log.ts';
import type { BrowseIndex } from '../browse/browse-index.ts';

export interface WebServices {
  /** Absent beside a PostgreSQL index. */
  browse?: BrowseIndex;
  activity?: ActivityRecorder;
  sessions: BrowserSessions;
  gcRuns: GcRunLog;
  /** Stops the background work and closes every connection. */
  close(): Promise<void>;
}

/** The SQLite file the web services use: the SQLite index's own, or `pier/web.db` beside a PostgreSQL index. */
export function webDatabaseFile(dataDir: string, index: IndexSettings | undefined): string {
  if (index?.backend === 'postgres') return join(dataDir, 'pier', 'web.db');
  return index?.path ?? indexFile(dataDir);
}

export function openWebServices(file: string, withBrowsing: boolean, storage: RegistryStorage, logger: Logger): WebServices {
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const sessionStore = SqliteSessionStore.open(file);
    closers.push(() => sessionStore.close());
    const gcRuns = SqliteGcRunLog.open(file);
    closers.push(() => gcRuns.close());
    const services: WebServices = { sessions: new BrowserSessions(sessionStore), gcRuns, close };
    if (!withBrowsing) return services;
    const browse = SqliteBrowseIndex.open(file);
    closers.push(() => browse.close());
    const activity = startActivityRecorder(browse, logger);
    closers.push(() => activity.stop());
    const filling = startFactFilling(browse, storage, logger);
    closers.push(() => filling.stop());
    return { ...services, browse, activity };
  } catch (error) {
    void close();
    throw error;
  }
}
