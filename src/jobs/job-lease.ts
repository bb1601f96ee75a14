/**
 * The lease that lets replicas share scheduled jobs: each job runs on one replica at a time, and once per
 * interval across all of them. Replicas on a shared database (PostgreSQL) get one
 * (index/postgres/postgres-job-lease.ts); a single process needs none and runs its jobs on its own timers.
 */
export interface JobLease {
  /**
   * Starts the job's record if there is none, counting the interval from now (so a fresh cluster waits one
   * interval before the first run, as a single process does).
   */
  register(job: string): Promise<void>;
  /**
   * Claims the job for this process when nobody holds it (or the holder's lease expired) and it last started,
   * anywhere, at least `minGapMs` ago; the claim lasts `ttlMs` unless renewed. True when claimed.
   */
  claim(job: string, minGapMs: number, ttlMs: number): Promise<boolean>;
  /** Extends this process's claim; false when it lost it. */
  renew(job: string, ttlMs: number): Promise<boolean>;
  /** Ends this process's claim (the job is done). */
  release(job: string): Promise<void>;
}
