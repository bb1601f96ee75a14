/**
 * Keys of PostgreSQL advisory locks. Advisory locks are named by one 64-bit integer per database; Pier
 * derives it from a space ('upload', 'deleting', 'blob', …) and a name (an upload id, a digest) with
 * SHA-256, so different kinds of lock never share a key by accident. A collision between two names of one
 * space (odds 2^-64) would only make two holders wait for each other, never let two hold one lock.
 */
import { createHash } from 'node:crypto';

/** A signed 64-bit key, as text (node-postgres passes it to a bigint parameter exactly). */
export function advisoryKey(space: string, name: string): string {
  const hash = createHash('sha256').update(space).update('\0').update(name).digest();
  return hash.readBigInt64BE(0).toString();
}
