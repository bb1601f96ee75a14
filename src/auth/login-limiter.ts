/**
 * Throttles password guessing without letting anyone lock a user out (config `access.loginlimit`,
 * Pier-only). Failures are counted per (account, client address) pair and, at a much higher threshold,
 * per client address:
 *
 *   - `maxFailures` failures of one account from one address within `windowMs` throttle that pair only:
 *     the same account from any other address, and other accounts from the same address, are served.
 *     So knowing a user name does not let anyone lock that user out, and one CI job with a stale secret
 *     does not lock out the other jobs behind the same NAT address.
 *   - `addressMaxFailures` failures from one address (any accounts) throttle that address: a guesser
 *     spraying many user names from one place.
 *
 * A throttled attempt is answered 429 with Retry-After (the moment the oldest counted failure leaves the
 * window), without checking the password: otherwise a correct guess would still be recognisable. A
 * success clears the pair's failures. A limit of 0 is off. Memory is bounded: keys are forgotten once
 * their failures are older than the window, and the table is capped.
 */
export type LimitName = 'account-address' | 'address';

export type LimitDecision = { allowed: true; retryAfterSeconds: 0 } | { allowed: false; retryAfterSeconds: number; limit: LimitName };

export interface LoginLimits {
  /** Failures of one account from one address within the window; 0: no limit. */
  maxFailures: number;
  /** Failures from one address, all accounts together, within the window; 0: no limit. */
  addressMaxFailures: number;
  windowMs: number;
}

const MAX_KEYS = 100_000;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limits: LoginLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether an attempt for `account` from `address` may be checked now. */
  check(account: string | undefined, address: string | undefined): LimitDecision {
    let wait = 0;
    let limit: LimitName = 'account-address';
    for (const { key, max, name } of this.keys(account, address)) {
      const w = this.waitFor(key, max);
      if (w > wait) [wait, limit] = [w, name];
    }
    return wait > 0 ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)), limit } : { allowed: true, retryAfterSeconds: 0 };
  }

  recordFailure(account: string | undefined, address: string | undefined): void {
    const now = this.now();
    if (this.failures.size > MAX_KEYS) this.sweep(now);
    for (const { key, max } of this.keys(account, address)) {
      const list = this.recent(key, now);
      list.push(now);
      if (list.length > max) list.splice(0, list.length - max);
      this.failures.set(key, list);
    }
  }

  recordSuccess(account: string | undefined, address: string | undefined): void {
    const pair = this.keys(account, address).find((k) => k.name === 'account-address');
    if (pair) this.failures.delete(pair.key);
  }

  private keys(account: string | undefined, address: string | undefined): Array<{ key: string; max: number; name: LimitName }> {
    const keys: Array<{ key: string; max: number; name: LimitName }> = [];
    const addr = address ?? '';
    if (this.limits.maxFailures > 0 && account !== undefined && account !== '') {
      keys.push({ key: `pair\u0000${account}\u0000${addr}`, max: this.limits.maxFailures, name: 'account-address' });
    }
    if (this.limits.addressMaxFailures > 0 && addr !== '') keys.push({ key: `addr\u0000${addr}`, max: this.limits.addressMaxFailures, name: 'address' });
    return keys;
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => now - t < this.limits.windowMs);
  }

  private waitFor(key: string, max: number): number {
    const now = this.now();
    const list = this.recent(key, now);
    if (list.length === 0) this.failures.delete(key);
    if (list.length < max) return 0;
    return list[list.length - max]! + this.limits.windowMs - now;
  }

  private sweep(now: number): void {
    for (const key of [...this.failures.keys()]) if (this.recent(key, now).length === 0) this.failures.delete(key);
    if (this.failures.size > MAX_KEYS) this.failures.clear();
  }
}
