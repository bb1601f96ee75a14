/**
 * What the web UI and the admin API's browsing resources run on, opened and closed together: the browse read
 * model with its background fact filling, the activity recorder (pusher, last pull), browser sessions and
 * the GC run log — each on its own connection to the index file. Part of the composition root.
 */
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
  browse: BrowseIndex;
  activity: ActivityRecorder;
  sessions: BrowserSessions;
  gcRuns: GcRunLog;
  /** Stops the background work and closes every connection. */
  close(): Promise<void>;
}

export function openWebServices(indexFile: string, storage: RegistryStorage, logger: Logger): WebServices {
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const browse = SqliteBrowseIndex.open(indexFile);
    closers.push(() => browse.close());
    const sessionStore = SqliteSessionStore.open(indexFile);
    closers.push(() => sessionStore.close());
    const gcRuns = SqliteGcRunLog.open(indexFile);
    closers.push(() => gcRuns.close());
    const activity = startActivityRecorder(browse, logger);
    closers.push(() => activity.stop());
    const filling = startFactFilling(browse, storage, logger);
    closers.push(() => filling.stop());
    return { browse, activity, sessions: new BrowserSessions(sessionStore), gcRuns, close };
  } catch (error) {
    void close();
    throw error;
  }
}
