/**
 * Manifest bodies by digest, least recently used first out, bounded in bytes. Safe to share freely:
 * content is addressed by its digest, so an entry can never be stale (deletion is decided by the index,
 * which is consulted before the cache).
 */
export class ManifestCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(digest: string): Buffer | undefined {
    const body = this.entries.get(digest);
    if (body) {
      this.entries.delete(digest); // re-insert: most recently used last
      this.entries.set(digest, body);
    }
    return body;
  }

  set(digest: string, body: Buffer): void {
    if (body.length > this.maxBytes / 16 || this.entries.has(digest)) return;
    this.entries.set(digest, body);
    this.bytes += body.length;
    for (const [oldest, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= value.length;
    }
  }
}
