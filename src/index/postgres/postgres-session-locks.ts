/**
 * Locks that die with their holder: session-level advisory locks on one dedicated connection per Pier
 * process (not a pooled one, whose session outlives any one use). When the process dies, or its connection
 * breaks, PostgreSQL ends the session and every lock it held is free at once — no expiry to wait for, no
 * clock to trust. Upload-session locks and garbage-collection deletion marks use it.
 *
 * Advisory locks are re-entrant within a session, so two holders in this process would both "get" the same
 * key; the in-process table below keeps one holder per key, reserved before the round trip so concurrent
 * calls cannot both pass.
 *
 * If the connection breaks, every lock is lost: the table is cleared and the next call reconnects. A holder
 * that renews (an upload's periodic lockUpload) then re-takes its lock, or learns that someone else has it.
 */
import type { Client, ClientConfig } from 'pg';
import { loadPg } from './postgres-connection.ts';

export class SessionLocks {
  private session: Promise<Client> | undefined;
  private readonly holders = new Map<string, string>();
  private closed = false;
  /** Queries on the one session run one after another (node-postgres wants no overlap on a client). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly config: ClientConfig) {}

  /** Takes `key` for `holder` without waiting; true when `holder` has it now (also when it already had it). */
  async tryLock(key: string, holder: string): Promise<boolean> {
    const current = this.holders.get(key);
    if (current !== undefined) return current === holder;
    this.holders.set(key, holder); // reserved while we ask the server
    try {
      const rows = await this.run<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
      if (rows[0]?.locked) return true;
      this.holders.delete(key);
      return false;
    } catch (error) {
      this.holders.delete(key);
      throw error;
    }
  }

  /**
   * Takes each free key for `holder` in one round trip; returns the keys `holder` has now (also those it
   * already had). Keys held by another holder here or by another session are left out.
   */
  async tryLockMany(keys: string[], holder: string): Promise<Set<string>> {
    const have = new Set<string>();
    const ask: string[] = [];
    for (const key of new Set(keys)) {
      const current = this.holders.get(key);
      if (current === holder) have.add(key);
      else if (current === undefined) {
        this.holders.set(key, holder); // reserved while we ask the server
        ask.push(key);
      }
    }
    if (ask.length === 0) return have;
    let rows: Array<{ key: string; locked: boolean }>;
    try {
      rows = await this.run<{ key: string; locked: boolean }>('SELECT k::text AS key, pg_try_advisory_lock(k) AS locked FROM unnest($1::bigint[]) AS k', [ask]);
    } catch (error) {
      for (const key of ask) this.holders.delete(key);
      throw error;
    }
    const locked = new Set(rows.filter((r) => r.locked).map((r) => r.key));
    for (const key of ask) {
      if (locked.has(key)) have.add(key);
      else this.holders.delete(key);
    }
    return have;
  }

  /** Releases the keys `holder` holds, in one round trip. */
  async unlockMany(keys: string[], holder: string): Promise<void> {
    const mine = [...new Set(keys)].filter((key) => this.holders.get(key) === holder);
    if (mine.length === 0) return;
    for (const key of mine) this.holders.delete(key);
    if (!this.session) return;
    try {
      await this.run('SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k', [mine]);
    } catch {
      // the session is gone, and the locks with it
    }
  }

  /** True when `holder` holds `key` on the live session. */
  holds(key: string, holder: string): boolean {
    return this.holders.get(key) === holder;
  }

  async unlock(key: string, holder: string): Promise<void> {
    if (this.holders.get(key) !== holder) return;
    this.holders.delete(key);
    if (!this.session) return;
    try {
      await this.run('SELECT pg_advisory_unlock($1)', [key]);
    } catch {
      // the session is gone, and the lock with it
    }
  }

  /** The backend PID of the session (for operators: pg_locks shows which session holds what). */
  async backendPid(): Promise<number> {
    return (await this.run<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
  }

  private run<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const result = this.queue.then(async () => (await (await this.connect()).query<T>(sql, params)).rows);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private connect(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the index is closed'));
    if (this.session) return this.session;
    const attempt: Promise<Client> = (async () => {
      const pg = await loadPg();
      const client = new pg.Client(this.config);
      const lost = () => {
        if (this.session === attempt) {
          this.session = undefined;
          this.holders.clear();
        }
      };
      client.on('error', lost);
      client.on('end', lost);
      await client.connect();
      return client;
    })();
    this.session = attempt;
    attempt.catch(() => {
      if (this.session === attempt) this.session = undefined;
    });
    return attempt;
  }

  async close(): Promise<void> {
    this.closed = true;
    const session = this.session;
    this.session = undefined;
    this.holders.clear();
    if (session) await session.then((c) => c.end()).catch(() => undefined);
  }
}
