/**
 * Records who pushes manifests and when they are pulled, for the UI's tag lists. Pushes are written at once;
 * pulls (the hot path) are coalesced in memory per manifest and written every few seconds, so a pull costs a
 * map update, never a database write. A crash loses at most the last interval's pull times.
 */
import type { Logger } from '../observability/logger.ts';
import type { ActivityRecord, BrowseIndex } from './browse-index.ts';

export interface ActivityRecorder {
  pushed(repository: string, digest: string, user: string | undefined): void;
  pulled(repository: string, digest: string): void;
  /** Writes what is pending (the admin API calls it before reading). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function startActivityRecorder(browse: BrowseIndex, logger: Logger, intervalMs = 5_000): ActivityRecorder {
  let pulls = new Map<string, ActivityRecord>();
  let writing: Promise<void> = Promise.resolve();
  const write = (records: ActivityRecord[]): Promise<void> => {
    writing = writing.then(() => browse.recordActivity(records)).catch((err: unknown) => logger.warn({ err }, 'recording image activity failed'));
    return writing;
  };
  const flush = (): Promise<void> => {
    if (pulls.size === 0) return writing;
    const pending = [...pulls.values()];
    pulls = new Map();
    return write(pending);
  };
  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();
  return {
    pushed(repository, digest, user) {
      void write([{ repository, digest, pushedAt: new Date(), ...(user !== undefined ? { pushedBy: user } : {}) }]);
    },
    pulled(repository, digest) {
      pulls.set(`${repository}\0${digest}`, { repository, digest, lastPulledAt: new Date() });
    },
    flush,
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
