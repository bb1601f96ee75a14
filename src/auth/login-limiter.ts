/**
 * Limits failed logins, per account and per client address (config `access.loginlimit`, Pier-only): after
 * `maxFailures` failures within `windowMs`, further attempts for that account — or from that address — are
 * refused without checking the password until the oldest failure leaves the window. Refusing before the
 * check matters: otherwise a correct guess would still be recognisable during the lockout.
 *
 * A success clears the account's failures (not the address's). Memory is bounded: keys are forgotten once
 * their failures are older than the window, and the tables are capped.
 */
export interface LimitDecision {
  allowed: boolean;
  /** Seconds until an attempt may be made again (when not allowed). */
  retryAfterSeconds: number;
}

const MAX_KEYS = 100_000;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether an attempt for `account` from `address` may be checked now. */
  check(account: string | undefined, address: string | undefined): LimitDecision {
    let wait = 0;
    for (const key of this.keys(account, address)) wait = Math.max(wait, this.waitFor(key));
    return wait > 0 ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) } : { allowed: true, retryAfterSeconds: 0 };
  }

  recordFailure(account: string | undefined, address: string | undefined): void {
    const now = this.now();
    if (this.failures.size > MAX_KEYS) this.sweep(now);
    for (const key of this.keys(account, address)) {
      const list = this.recent(key, now);
      list.push(now);
      if (list.length > this.maxFailures) list.splice(0, list.length - this.maxFailures);
      this.failures.set(key, list);
    }
  }

  recordSuccess(account: string | undefined): void {
    if (account !== undefined) this.failures.delete(`user\u0000${account}`);
  }

  private keys(account: string | undefined, address: string | undefined): string[] {
    const keys: string[] = [];
    if (account !== undefined && account !== '') keys.push(`user\u0000${account}`);
    if (address !== undefined && address !== '') keys.push(`addr\u0000${address}`);
    return keys;
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => now - t < this.windowMs);
  }

  private waitFor(key: string): number {
    const now = this.now();
    const list = this.recent(key, now);
    if (list.length === 0) this.failures.delete(key);
    if (list.length < this.maxFailures) return 0;
    return list[list.length - this.maxFailures]! + this.windowMs - now;
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) if (this.recent(key, now).length === 0) this.failures.delete(key);
    if (this.failures.size > MAX_KEYS) this.failures.clear();
  }
}
