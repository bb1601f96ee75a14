/**
 * Records who pushes manifests and when they are pulled, for the UI's tag lists. Pushes are written at once;
 * pulls (the hot path) are coalesced in memory per manifest and written every few seconds, so a pull costs a
 * map update, never a database write. Pushes and pulls are also counted per repository per UTC day, and the
 * bytes stored are measured every `storageEveryMs`, for the operations page's charts. A crash loses at most
 * the last interval's pull times and counts.
 */
import type { Logger } from '../observability/logger.ts';
import type { ActivityRecord, BrowseIndex, DailyCount } from './browse-index.ts';

/** `YYYY-MM-DD` of a time, in UTC. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

export interface ActivityRecorder {
  pushed(repository: string, digest: string, user: string | undefined): void;
  pulled(repository: string, digest: string): void;
  /** Writes what is pending (the admin API calls it before reading). */
  flush(): Promise<void>;
  /** Records the bytes stored now (also done on a timer). */
  measure(): void;
  stop(): Promise<void>;
}

export function startActivityRecorder(browse: BrowseIndex, logger: Logger, intervalMs = 5_000, storageEveryMs = 10 * 60_000): ActivityRecorder {
  let pulls = new Map<string, ActivityRecord>();
  let counts = new Map<string, DailyCount>();
  const count = (repository: string, kind: 'pushes' | 'pulls'): void => {
    const day = utcDay(new Date());
    const key = `${day}\0${repository}`;
    let entry = counts.get(key);
    if (!entry) counts.set(key, (entry = { day, repository, pushes: 0, pulls: 0 }));
    entry[kind]++;
  };
  let writing: Promise<void> = Promise.resolve();
  const write = (records: ActivityRecord[]): Promise<void> => {
    writing = writing.then(() => browse.recordActivity(records)).catch((err: unknown) => logger.warn({ err }, 'recording image activity failed'));
    return writing;
  };
  const flush = (): Promise<void> => {
    if (counts.size > 0) {
      const pendingCounts = [...counts.values()];
      counts = new Map();
      writing = writing.then(() => browse.addDailyCounts(pendingCounts)).catch((err: unknown) => logger.warn({ err }, 'recording daily counts failed'));
    }
    if (pulls.size === 0) return writing;
    const pending = [...pulls.values()];
    pulls = new Map();
    return write(pending);
  };
  const measure = (): void => {
    writing = writing
      .then(async () => browse.recordStoredBytes(utcDay(new Date()), await browse.storedBytes()))
      .catch((err: unknown) => logger.warn({ err }, 'measuring stored bytes failed'));
  };
  // First measurement a little after start, not during it (it reads every blob's size once).
  const firstMeasure = setTimeout(measure, Math.min(storageEveryMs, 5_000));
  firstMeasure.unref();
  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();
  const storageTimer = setInterval(measure, storageEveryMs);
  storageTimer.unref();
  return {
    pushed(repository, digest, user) {
      count(repository, 'pushes');
      void write([{ repository, digest, pushedAt: new Date(), ...(user !== undefined ? { pushedBy: user } : {}) }]);
    },
    pulled(repository, digest) {
      count(repository, 'pulls');
      pulls.set(`${repository}\0${digest}`, { repository, digest, lastPulledAt: new Date() });
    },
    flush,
    measure,
    async stop() {
      clearInterval(timer);
      clearInterval(storageTimer);
      clearTimeout(firstMeasure);
      await flush();
    },
  };
}
