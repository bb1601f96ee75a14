/**
 * Job leases in PostgreSQL (table `job_leases`): one row per scheduled job with its holder, when the claim
 * expires and when the job last started anywhere. Times are the database's (`now()`), so replicas with
 * skewed clocks still agree. A replica that dies while running a job stops renewing; its claim expires
 * after `ttlMs` and another replica may take the job.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Pool } from 'pg';
import type { JobLease } from '../../jobs/job-lease.ts';

export class PostgresJobLease implements JobLease {
  readonly holder = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;

  constructor(private readonly pool: Pool) {}

  async register(job: string): Promise<void> {
    await this.pool.query('INSERT INTO job_leases (job, last_started_at) VALUES ($1, now()) ON CONFLICT (job) DO NOTHING', [job]);
  }

  async claim(job: string, minGapMs: number, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO job_leases (job, holder, expires_at, last_started_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond', now())
       ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, last_started_at = excluded.last_started_at
       WHERE (job_leases.expires_at < now() OR job_leases.holder = excluded.holder)
         AND (job_leases.last_started_at IS NULL OR job_leases.last_started_at <= now() - $4 * interval '1 millisecond')`,
      [job, this.holder, ttlMs, minGapMs],
    );
    return (rowCount ?? 0) > 0;
  }

  async renew(job: string, ttlMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE job_leases SET expires_at = now() + $3 * interval '1 millisecond' WHERE job = $1 AND holder = $2`,
      [job, this.holder, ttlMs],
    );
    return (rowCount ?? 0) > 0;
  }

  async release(job: string): Promise<void> {
    await this.pool.query(`UPDATE job_leases SET expires_at = '-infinity' WHERE job = $1 AND holder = $2`, [job, this.holder]);
  }
}
