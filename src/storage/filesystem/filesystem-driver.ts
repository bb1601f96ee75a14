/**
 * Filesystem storage driver: keys are files under one root directory.
 *
 * Durability, and how few flushes it takes (a small image push is a dozen tiny files in new directories,
 * so flushes and directory operations, not bytes, are its cost):
 * - Content first: a file's bytes are flushed BEFORE a name that others trust points at them. Whole files
 *   are written to a temporary sibling, fsynced, renamed into place and the directory fsynced (two flushes).
 *   A reader never sees half a file, and after a crash a name holds its old bytes or its new ones.
 * - Link files (`readerValidates`: a reader checks the digest they hold, and an unreadable one counts as
 *   absent) that land in a directory this call created: temporary sibling, rename, then ONE fsync of the
 *   file. On Linux's file systems (ext4 with or without a journal, XFS, btrfs) an fsync of a file created
 *   since its last flush also makes its name durable, with the new directories above it (ext4 syncs the
 *   parents of new entries; a journal commits the rename and the mkdirs with the inode). The price: a
 *   power failure between the rename and that fsync can leave the new link empty — before the request was
 *   answered, so nothing acknowledged depends on it, and Pier reads it as absent. A link that existed
 *   before (a tag moved) always takes the two-flush path, so it never loses its acknowledged content.
 * - Pier has always relied on that file-system behaviour for the directories above a new file (it never
 *   fsynced them one by one); the same behaviour now saves a flush per new link.
 * - A blob an upload finds already at its content address (a concurrent upload of the same bytes renamed it
 *   there and may not have flushed the directory yet; another registry may never have) is flushed, file and
 *   directory (`flush`), before that push is acknowledged.
 * - Upload session directories are reused rather than deleted and made again (spare-directories.ts).
 * - Directories are made only when missing (one mkdir of the leaf; the parents only when that says
 *   ENOENT), appends open the file before thinking about directories, and deletes try unlink/rmdir
 *   before walking a tree: the common case costs one system call, not a stat and a walk.
 */
import { promises as fs, constants, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { checkPath, StoragePathError, type AppendWriter, type FileInfo, type LocalFile, type PutOptions, type StorageDriver } from '../contract.ts';
import { rethrowIfFull } from './storage-full.ts';
import { SpareDirectories } from './spare-directories.ts';

const READ_CHUNK = 1024 * 1024;
const WRITE_BATCH = 1024 * 1024;

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly root: string;

  private readonly spares: SpareDirectories;

  constructor(root: string) {
    this.root = resolve(root);
    this.spares = new SpareDirectories(join(this.root, 'pier', 'spare'), ensureDirectory);
  }

  retireDirectory(path: string, keep: string): Promise<boolean> {
    return this.spares.retire(this.full(path), keep);
  }

  reviveDirectory(path: string, name: string, content: Uint8Array): Promise<boolean> {
    return this.spares.revive(this.full(path), name, content);
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

  async putContent(path: string, data: Uint8Array, options: PutOptions = {}): Promise<void> {
    const durable = options.durable ?? true;
    const full = this.full(path);
    const dir = dirname(full);
    // A concurrent delete of a parent directory (e.g. a tag removed while it is rewritten) can pull the
    // directory away between mkdir and rename: make it again and retry.
    for (let attempt = 1; ; attempt++) {
      try {
        const created = await ensureDirectory(dir);
        await this.writeThenRename(full, dir, data, durable, durable && created && options.readerValidates === true);
        return;
      } catch (error) {
        if (!isMissing(error) || attempt >= 5) rethrowIfFull(error, this.root);
      }
    }
  }

  /**
   * `flushAfterRename`: the file is new in a directory this call made (see the header): rename first,
   * then one fsync of the file. Otherwise content is flushed before the rename and the directory after.
   */
  private async writeThenRename(full: string, dir: string, data: Uint8Array, durable: boolean, flushAfterRename: boolean): Promise<void> {
    const temp = `${full}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
    let renamed = false;
    try {
      await writeAll(handle, data);
      if (durable && !flushAfterRename) await handle.sync();
      await fs.rename(temp, full);
      renamed = true;
      if (flushAfterRename) await handle.sync();
    } finally {
      await handle.close();
      if (!renamed) await fs.rm(temp, { force: true });
    }
    if (durable && !flushAfterRename) await syncPath(dir);
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
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(full, 'a');
    } catch (error) {
      if (!isMissing(error)) throw error;
      await fs.mkdir(dirname(full), { recursive: true });
      handle = await fs.open(full, 'a');
    }
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

  async flush(path: string): Promise<void> {
    const full = this.full(path);
    await syncPath(full);
    await syncPath(dirname(full));
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.full(from);
    const target = this.full(to);
    await ensureDirectory(dirname(target));
    await fs.rename(source, target);
    await syncPath(dirname(target));
  }

  async delete(path: string): Promise<void> {
    const full = this.full(path);
    // A file, or a directory holding only files (an upload session): a few calls instead of a tree walk.
    try {
      await fs.unlink(full);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (isMissing(error)) return;
      if (code !== 'EISDIR' && code !== 'EPERM') throw error;
    }
    try {
      const entries = await fs.readdir(full, { withFileTypes: true });
      if (entries.length <= 8 && entries.every((e) => e.isFile())) {
        await Promise.all(entries.map((e) => fs.unlink(join(full, e.name)).catch((error: unknown) => { if (!isMissing(error)) throw error; })));
        await fs.rmdir(full);
        return;
      }
    } catch (error) {
      if (isMissing(error)) return;
      // ENOTEMPTY: a writer added something meanwhile; the walk below deals with it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
    }
    // maxRetries: a concurrent writer may add a file while the tree is being removed (ENOTEMPTY).
    await fs.rm(full, { recursive: true, force: true, maxRetries: 5, retryDelay: 5 });
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Makes `dir` exist; true when this call created it (so nothing inside it can predate the caller). One
 * mkdir of the leaf in the common cases (it exists, or only it is missing); the parents only on ENOENT.
 */
async function ensureDirectory(dir: string): Promise<boolean> {
  for (let parentMade = false; ; parentMade = true) {
    try {
      await fs.mkdir(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'ENOENT' || parentMade || dirname(dir) === dir) throw error;
    }
    await ensureDirectory(dirname(dir));
  }
}

async function writeAll(handle: fs.FileHandle, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset);
    offset += bytesWritten;
  }
}

/** fsync of a file or a directory (opened read-only, as a directory must be). */
async function syncPath(path: string): Promise<void> {
  const handle = await fs.open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
