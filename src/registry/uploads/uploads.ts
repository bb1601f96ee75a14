/**
 * Upload sessions: start, append chunks, complete with a digest, cancel.
 *
 * All session state is in storage (`_uploads/<id>/data` and `startedat`), so a session begun on one Pier
 * process can be continued on another or after a restart. The running hash of a session is kept in memory
 * only as a shortcut: it is used when its byte count matches the stored data, otherwise the stored bytes
 * are hashed again at completion. Bytes become a blob only after their digest is verified.
 */
import { randomUUID, type Hash } from 'node:crypto';
import { RegistryError } from '../errors.ts';
import { newHash, digestFromHash, type Digest } from '../model/digest.ts';
import type { ByteRange } from '../model/byte-range.ts';
import type { RegistryContext } from '../context.ts';
import type { Blobs } from '../blobs/blobs.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { retryWhileDeleting } from '../gc/wait-for-deletion.ts';

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_CACHED_HASHES = 1024;
/**
 * The lease on a session's write lock, renewed while writing. The index ends a lock when its holder's
 * process ends (ports.ts), so the lease only matters for a holder the index cannot check (another host).
 */
const LOCK_TTL_MS = 30_000;

export interface ChunkBody {
  /** The request body; consumed as it arrives, never buffered whole. */
  stream: AsyncIterable<Buffer>;
  /** Declared length, when the client sent one. */
  length?: number;
  /** The chunk's place in the upload, when the client sent Content-Range. */
  range?: ByteRange;
}

export class Uploads {
  private readonly hashes = new Map<string, { size: number; hash: Hash }>();
  private readonly locks = new KeyedMutex();
  /** Identifies this process as the holder of session write locks in the shared index. */
  private readonly owner = randomUUID();

  constructor(
    private readonly ctx: RegistryContext,
    private readonly blobs: Blobs,
  ) {}

  async start(repository: string): Promise<string> {
    const id = randomUUID();
    await this.ctx.storage.createUpload(repository, id, this.ctx.clock.now());
    return id;
  }

  /** Current size of the session's data; BLOB_UPLOAD_UNKNOWN when there is no such session. */
  async size(repository: string, id: string): Promise<number> {
    return (await this.status(repository, id)).size;
  }

  async append(repository: string, id: string, body: ChunkBody): Promise<number> {
    return this.exclusive(repository, id, async () => {
      await this.exists(repository, id);
      return this.appendUnlocked(repository, id, body);
    });
  }

  /** Appends an optional last chunk, verifies the digest and makes the blob visible. Returns its size. */
  async complete(repository: string, id: string, digest: Digest, body?: ChunkBody): Promise<number> {
    return this.exclusive(repository, id, async () => {
      if (body) await this.exists(repository, id).then(() => this.appendUnlocked(repository, id, body));
      // What storage holds, not what this request wrote: if another writer slipped past the lock, the size
      // disagrees with the cached hash, the bytes are hashed again and the digest check refuses them.
      const size = body ? await this.ctx.storage.uploadDataSize(repository, id) : await this.size(repository, id);
      const actual = await this.digestOf(repository, id, digest, size);
      if (actual.value !== digest.value) {
        this.hashes.delete(id);
        await this.ctx.storage.deleteUpload(repository, id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', {
          expected: digest.value,
          actual: actual.value,
          size,
        });
      }
      this.hashes.delete(id);
      try {
        await this.blobs.checkQuota(repository, digest, size);
      } catch (error) {
        await this.ctx.storage.deleteUpload(repository, id);
        throw error;
      }
      await this.publish(repository, id, digest, size);
      return size;
    });
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.exists(repository, id);
    this.hashes.delete(id);
    await this.ctx.storage.deleteUpload(repository, id);
  }

  /**
   * Makes verified upload bytes the blob `digest` in the repository, safely against a concurrent garbage
   * collection: while the blob's bytes already exist the upload keeps its own copy until the link is
   * accepted; if a collector is deleting those bytes, the link is refused, and once the collector is done
   * the upload's copy becomes the blob.
   */
  private async publish(repository: string, id: string, digest: Digest, size: number): Promise<void> {
    const { storage } = this.ctx;
    await retryWhileDeleting(async () => {
      if ((await storage.blobSize(digest)) === undefined) {
        await storage.commitUpload(repository, id, digest); // our bytes become the blob
        return retryWhileDeleting(() => this.blobs.link(repository, digest, size), digest.value);
      }
      // Found there: maybe just renamed into place by a concurrent upload that has not flushed it yet.
      await storage.flushBlob(digest);
      const result = await this.blobs.link(repository, digest, size);
      if (result === 'linked') await storage.deleteUpload(repository, id);
      return result;
    }, digest.value);
  }

  /**
   * Runs `work` as the only writer of the session: one at a time within this process (a mutex), and
   * across processes sharing the data directory (a lock row in the index, renewed while work runs).
   * A request that finds another writing gets 416 with the session's current size.
   */
  private async exclusive<T>(repository: string, id: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(id, async () => {
      const { index } = this.ctx;
      if (!(await index.lockUpload(id, this.owner, LOCK_TTL_MS))) {
        const size = (await this.ctx.storage.uploadStatus(repository, id))?.size ?? 0;
        throw new RegistryError('RANGE_INVALID', 'another request is writing to this upload session', { uuid: id }, { size });
      }
      const renew = setInterval(() => void index.lockUpload(id, this.owner, LOCK_TTL_MS).catch(() => undefined), LOCK_TTL_MS / 3);
      renew.unref();
      try {
        return await work();
      } finally {
        clearInterval(renew);
        await index.unlockUpload(id, this.owner);
      }
    });
  }

  private async status(repository: string, id: string): Promise<{ size: number; startedAt: Date }> {
    if (!UPLOAD_ID.test(id)) throw unknownUpload(id);
    const status = await this.ctx.storage.uploadStatus(repository, id);
    if (!status) throw unknownUpload(id);
    return status;
  }

  /** BLOB_UPLOAD_UNKNOWN unless the session exists (one stat, where status reads the start time too). */
  private async exists(repository: string, id: string): Promise<void> {
    if (!UPLOAD_ID.test(id) || !(await this.ctx.storage.hasUpload(repository, id))) throw unknownUpload(id);
  }

  private async appendUnlocked(repository: string, id: string, body: ChunkBody): Promise<number> {
    const { range, length } = body;
    if (range && length !== undefined && range.end - range.start + 1 !== length) {
      throw new RegistryError('RANGE_INVALID', 'Content-Range does not match Content-Length', { range, length });
    }
    const writer = await this.ctx.storage.appendToUpload(repository, id);
    if (range && range.start !== writer.startSize) {
      await writer.abort();
      throw new RegistryError('RANGE_INVALID', `chunk must start at byte ${writer.startSize}`, { range, size: writer.startSize }, { size: writer.startSize });
    }
    let cached = this.hashes.get(id);
    if (cached && cached.size !== writer.startSize) cached = undefined;
    if (!cached && writer.startSize === 0) cached = { size: 0, hash: newHash('sha256') };
    this.hashes.delete(id);
    // With Content-Range, the chunk must be exactly that long even when streamed without Content-Length.
    const expected = range ? range.end - range.start + 1 : undefined;
    const rangeMismatch = (got: number) =>
      new RegistryError('RANGE_INVALID', `Content-Range announced ${expected} bytes, the body had ${got}`, { range }, { size: writer.startSize });
    let written = 0;
    try {
      for await (const chunk of body.stream) {
        written += chunk.length;
        if (expected !== undefined && written > expected) throw rangeMismatch(written);
        cached?.hash.update(chunk);
        await writer.write(chunk);
      }
      if (length !== undefined && written !== length) {
        throw new RegistryError('SIZE_INVALID', `received ${written} bytes, Content-Length said ${length}`);
      }
      if (expected !== undefined && written !== expected) throw rangeMismatch(written);
      await writer.commit();
    } catch (error) {
      await writer.abort();
      throw error;
    }
    const size = writer.startSize + written;
    if (cached) this.remember(id, { size, hash: cached.hash });
    return size;
  }

  private remember(id: string, state: { size: number; hash: Hash }): void {
    if (this.hashes.size >= MAX_CACHED_HASHES) this.hashes.delete(this.hashes.keys().next().value!);
    this.hashes.set(id, state);
  }

  private async digestOf(repository: string, id: string, expected: Digest, size: number): Promise<Digest> {
    const cached = this.hashes.get(id);
    if (cached && cached.size === size && expected.algorithm === 'sha256') return digestFromHash('sha256', cached.hash);
    const hash = newHash(expected.algorithm);
    const stream = await this.ctx.storage.readUpload(repository, id);
    if (stream) for await (const chunk of stream) hash.update(chunk as Buffer);
    return digestFromHash(expected.algorithm, hash);
  }
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id.slice(0, 64) });
}
