/**
 * Bearer tokens by realm, service, scope and identity, kept until shortly before they expire (the
 * `expires_in` the token service gave, 60 s when it gave none, as the token spec says).
 */
export interface CachedToken {
  token: string;
  expiresAt: number;
}

const MAX_ENTRIES = 2000;

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  constructor(private readonly now: () => number = Date.now) {}

  static key(realm: string, service: string | undefined, scope: string, identity: string): string {
    return JSON.stringify([realm, service ?? '', scope, identity]);
  }

  get(key: string): string | undefined {
    const entry = this.tokens.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /** Stores a token valid for `lifetimeSeconds`; it is dropped 10 s (or a tenth of its life) before it ends. */
  set(key: string, token: string, lifetimeSeconds: number): void {
    const lifetimeMs = Math.max(0, lifetimeSeconds) * 1000;
    const margin = Math.min(10_000, lifetimeMs / 10);
    if (lifetimeMs - margin <= 0) return;
    if (this.tokens.size >= MAX_ENTRIES) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(key, { token, expiresAt: this.now() + lifetimeMs - margin });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}
