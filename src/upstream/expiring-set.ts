/**
 * Keys remembered for a while, in memory: upstream 404s (not asked again until they expire) and tags
 * revalidated recently (not asked again until their TTL passes). Losing them (a restart) only means asking
 * the upstream once more. Bounded: the oldest entries go first.
 */
export class ExpiringSet {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(key: string, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, this.now() + ttlMs);
  }

  has(key: string): boolean {
    const until = this.entries.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.entries.delete(key);
    return false;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
