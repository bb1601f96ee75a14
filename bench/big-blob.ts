/**
 * Big random blobs without paying for a random generator and a SHA-256 pass per blob: every blob is one
 * shared random prefix plus its own random 1 MiB tail, so each has a distinct digest (no deduplication on
 * the server), and the digest costs only a copy of the prefix's hash state and 1 MiB of hashing.
 */
import { createHash, type Hash } from 'node:crypto';
import { randomBuffer } from './registry-client.ts';

const MiB = 1024 * 1024;

export interface BigBlob {
  digest: string;
  size: number;
  /** The content as 1 MiB parts (the prefix's parts are shared, not copied). */
  parts: Buffer[];
  /** The last 1 MiB, unique to this blob. */
  tail: Buffer;
}

export class BigBlobSource {
  private readonly prefix: Buffer;
  private readonly prefixParts: Buffer[] = [];
  private readonly prefixHash: Hash;

  constructor(readonly size: number) {
    if (size % MiB !== 0 || size < 2 * MiB) throw new Error('big blob size must be a multiple of 1 MiB, at least 2 MiB');
    this.prefix = randomBuffer(size - MiB);
    this.prefixHash = createHash('sha256');
    for (let offset = 0; offset < this.prefix.length; offset += MiB) {
      const part = this.prefix.subarray(offset, offset + MiB);
      this.prefixParts.push(part);
      this.prefixHash.update(part);
    }
  }

  next(): BigBlob {
    const tail = randomBuffer(MiB);
    const digest = `sha256:${this.prefixHash.copy().update(tail).digest('hex')}`;
    return { digest, size: this.size, parts: [...this.prefixParts, tail], tail };
  }
}

/** Groups the 1 MiB parts into chunks of `chunkBytes`. */
export function chunksOf(blob: BigBlob, chunkBytes: number): Buffer[][] {
  const perChunk = Math.max(1, Math.floor(chunkBytes / MiB));
  const chunks: Buffer[][] = [];
  for (let i = 0; i < blob.parts.length; i += perChunk) chunks.push(blob.parts.slice(i, i + perChunk));
  return chunks;
}
