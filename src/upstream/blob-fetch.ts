/**
 * One upstream download of one blob, shared by every request that wants it while it runs.
 *
 * The body is written, as it arrives, to a local spool file (which readers follow) and to an upload
 * session in storage (which becomes the cached blob), and hashed. Only when the byte count and the digest
 * are right is the upload moved to its content address and linked: verify before visible. Readers may read
 * everything that has arrived except the blob's last byte, which is released only after verification — so a
 * client never receives a complete response with wrong bytes: on a bad digest, a short or long body, or an
 * upstream that stalls past its idle timeout, every reader is destroyed with the error and the client's
 * connection is broken off short of Content-Length.
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Digest } from '../registry/model/digest.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import type { Logger } from '../observability/logger.ts';
import { classifyTransportError, UpstreamFailure } from './client/upstream-failure.ts';

const READ_CHUNK = 1024 * 1024;

export interface BlobFetchOptions {
  upstream: string;
  /** The repository (as clients name it here) the blob is cached into. */
  repository: string;
  digest: Digest;
  size: number;
  body: Readable;
  storage: RegistryStorage;
  spoolDir: string;
  logger: Logger;
  /** Links the verified blob into the repository (index and link file). */
  link(size: number): Promise<void>;
  onBytes(count: number): void;
  onFailure(reason: string): void;
}

export class BlobFetch {
  readonly size: number;
  private received = 0;
  private state: 'running' | 'verified' | 'failed' = 'running';
  private failure: Error | undefined;
  private readonly progress = new EventEmitter();
  private spool: FileHandle | undefined;
  private readonly spoolPath: string;
  /** The fetch itself and each open reader hold the spool open; it is removed when the last lets go. */
  private holders = 1;
  /** Resolves when the fetch ends, verified or not. */
  readonly finished: Promise<void>;

  private constructor(private readonly options: BlobFetchOptions) {
    this.size = options.size;
    this.spoolPath = join(options.spoolDir, `${randomUUID()}.part`);
    this.progress.setMaxListeners(0);
    this.finished = this.run().catch(() => undefined);
  }

  static start(options: BlobFetchOptions): BlobFetch {
    return new BlobFetch(options);
  }

  get verified(): boolean {
    return this.state === 'verified';
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** A stream of `[start, end]` (inclusive) of the blob that follows the download as it arrives. */
  reader(range?: { start: number; end: number }): Readable {
    this.holders++;
    const fetch = this;
    let position = range?.start ?? 0;
    const end = range?.end ?? this.size - 1;
    let busy = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      void fetch.letGo();
    };
    const stream = new Readable({
      highWaterMark: READ_CHUNK,
      read() {
        if (busy) return;
        busy = true;
        void pump().finally(() => (busy = false));
      },
      destroy(error, callback) {
        release();
        callback(error);
      },
    });
    const pump = async (): Promise<void> => {
      try {
        for (;;) {
          if (stream.destroyed) return;
          if (position > end) {
            stream.push(null);
            release();
            return;
          }
          const readable = fetch.readableLimit();
          if (position < readable) {
            const length = Math.min(readable, end + 1) - position;
            const buffer = Buffer.allocUnsafe(Math.min(length, READ_CHUNK));
            const { bytesRead } = await fetch.spool!.read(buffer, 0, buffer.length, position);
            if (bytesRead === 0) throw new Error('spool file ended early');
            position += bytesRead;
            if (!stream.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead))) return;
            continue;
          }
          if (fetch.state === 'failed') throw fetch.failure;
          await once(fetch.progress, 'change');
        }
      } catch (error) {
        stream.destroy(error as Error);
      }
    };
    return stream;
  }

  /** Bytes a reader may have: what arrived, less the last byte until the digest is verified. */
  private readableLimit(): number {
    if (this.state === 'verified') return this.size;
    if (this.state === 'failed') return 0;
    return Math.min(this.received, this.size - 1);
  }

  private async run(): Promise<void> {
    const { storage, repository, digest, body, size } = this.options;
    const uploadId = randomUUID();
    let appender: Awaited<ReturnType<RegistryStorage['appendToUpload']>> | undefined;
    try {
      this.spool = await open(this.spoolPath, 'w+');
      await storage.createUpload(repository, uploadId, new Date());
      appender = await storage.appendToUpload(repository, uploadId);
      const hash = createHash(digest.algorithm);
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          if (this.received + chunk.length > size) throw new UpstreamFailure(this.options.upstream, 'invalid', `upstream ${this.options.upstream} sent more than the ${size} bytes it announced`);
          hash.update(chunk);
          await this.spool.write(chunk, 0, chunk.length, this.received);
          await appender.write(chunk);
          this.received += chunk.length;
          this.options.onBytes(chunk.length);
          this.progress.emit('change');
        }
      } catch (error) {
        throw classifyTransportError(this.options.upstream, error);
      }
      if (this.received !== size) throw new UpstreamFailure(this.options.upstream, 'invalid', `upstream ${this.options.upstream} sent ${this.received} of ${size} bytes`);
      const actual = `${digest.algorithm}:${hash.digest('hex')}`;
      if (actual !== digest.value) {
        throw new UpstreamFailure(this.options.upstream, 'invalid', `upstream ${this.options.upstream} sent bytes whose digest is ${actual}, not ${digest.value}`, undefined);
      }
      await appender.commit();
      appender = undefined;
      await storage.commitUpload(repository, uploadId, digest);
      await this.options.link(size);
      this.state = 'verified';
    } catch (error) {
      this.state = 'failed';
      this.failure = error as Error;
      body.destroy();
      const reason = UpstreamFailure.is(error) ? (error.message.includes('digest is') ? 'digest' : error.kind) : 'storage';
      this.options.onFailure(reason);
      this.options.logger.warn({ upstream: this.options.upstream, repository, digest: digest.value, received: this.received, size, err: (error as Error).message }, 'upstream blob fetch failed: nothing cached');
      await appender?.abort().catch(() => undefined);
      await storage.deleteUpload(repository, uploadId).catch(() => undefined);
      throw error;
    } finally {
      this.progress.emit('change');
      await this.letGo();
    }
  }

  private async letGo(): Promise<void> {
    if (--this.holders > 0) return;
    await this.spool?.close().catch(() => undefined);
    await rm(this.spoolPath, { force: true });
  }
}
