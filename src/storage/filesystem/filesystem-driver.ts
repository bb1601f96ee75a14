/**
 * Filesystem storage driver: keys are files under one root directory.
 * Whole-file writes go to a temporary sibling, are fsynced, then renamed into place, and the directory is
 * fsynced, so an acknowledged write survives a crash and a reader never sees half a file.
 */
import { promises as fs, constants, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { checkPath, StoragePathError, type AppendWriter, type FileInfo, type LocalFile, type StorageDriver } from '../contract.ts';
import { rethrowIfFull } from './storage-full.ts';

const READ_CHUNK = 1024 * 1024;
const WRITE_BATCH = 1024 * 1024;

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private full(path: string): string {
    const full = join(this.root, checkPath(path));
    if (!full.startsWith(this.root + sep)) throw new StoragePathError(path);
    return full;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    try {
      const s = await fs.stat(this.full(path));
      return { size: s.size, modifiedAt: s.mtime, isDirectory: s.isDirectory() };
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /**
   * Synchronous stats in slices, yielding between them: a cached stat costs microseconds, far less than
   * the thread-pool round trip of an asynchronous one, and the event loop still turns every slice.
   */
  async statMany(paths: string[]): Promise<Array<FileInfo | undefined>> {
    const out = new Array<FileInfo | undefined>(paths.length);
    for (let i = 0; i < paths.length; i++) {
      if (i % 2000 === 1999) await new Promise((r) => setImmediate(r));
      try {
        // checkPath leaves no '.', '..' or empty segment, so the root and the path joined by hand is what
        // join() would make, without normalising each of hundreds of thousands of paths again.
        const st = statSync(this.root + sep + checkPath(paths[i]!), { throwIfNoEntry: false });
        out[i] = st && { size: st.size, modifiedAt: st.mtime, isDirectory: st.isDirectory() };
      } catch (error) {
        if (!isMissing(error) && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') throw error;
        out[i] = undefined;
      }
    }
    return out;
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.full(path));
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw error;
    }
  }

  async putContent(path: string, data: Uint8Array, options: { durable?: boolean } = {}): Promise<void> {
    const durable = options.durable ?? true;
    const full = this.full(path);
    const dir = dirname(full);
    // A concurrent delete of a parent directory (e.g. a tag removed while it is rewritten) can pull the
    // directory away between mkdir and rename: make it again and retry.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.writeThenRename(full, dir, data, durable);
        return;
      } catch (error) {
        if (!isMissing(error) || attempt >= 5) rethrowIfFull(error, this.root);
      }
    }
  }

  private async writeThenRename(full: string, dir: string, data: Uint8Array, durable: boolean): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    const temp = `${full}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(data);
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await fs.rename(temp, full);
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
    if (durable) await syncDirectory(dir);
  }

  async reader(path: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.full(path), constants.O_RDONLY);
    } catch (error) {
      if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw error;
    }
    const stream = handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: READ_CHUNK, autoClose: true });
    return Object.assign(stream, { localFile: { handle, key: checkPath(path) } satisfies LocalFile });
  }

  async appendWriter(path: string): Promise<AppendWriter> {
    const writer = await this.openAppendWriter(path).catch((error: unknown) => rethrowIfFull(error, this.root));
    const full = (error: unknown): never => rethrowIfFull(error, this.root);
    return {
      startSize: writer.startSize,
      write: (chunk) => writer.write(chunk).catch(full),
      commit: () => writer.commit().catch(full),
      abort: () => writer.abort(),
    };
  }

  private async openAppendWriter(path: string): Promise<AppendWriter> {
    const full = this.full(path);
    await fs.mkdir(dirname(full), { recursive: true });
    const handle = await fs.open(full, 'a');
    const startSize = (await handle.stat()).size;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let closed = false;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await handle.write(data);
    };
    return {
      startSize,
      async write(chunk: Buffer): Promise<void> {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= WRITE_BATCH) await flush();
      },
      async commit(): Promise<void> {
        if (closed) return;
        closed = true;
        try {
          await flush();
          await handle.sync();
        } finally {
          await handle.close();
        }
      },
      async abort(): Promise<void> {
        if (closed) return;
        closed = true;
        pending = [];
        try {
          await handle.truncate(startSize);
        } finally {
          await handle.close();
        }
      },
    };
  }

  async list(path: string): Promise<string[]> {
    try {
      const entries = await fs.readdir(this.full(path));
      return entries.filter((e) => !e.includes('.tmp-')).sort();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isMissing(error) || code === 'ENOTDIR') return [];
      throw error;
    }
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.full(from);
    const target = this.full(to);
    await fs.mkdir(dirname(target), { recursive: true });
    await fs.rename(source, target);
    await syncDirectory(dirname(target));
  }

  async delete(path: string): Promise<void> {
    // maxRetries: a concurrent writer may add a file while the tree is being removed (ENOTEMPTY).
    await fs.rm(this.full(path), { recursive: true, force: true, maxRetries: 5, retryDelay: 5 });
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
