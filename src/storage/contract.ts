/**
 * The storage-driver contract: a small, file-like key/value store that every backend (filesystem, memory,
 * and later S3 and Azure) implements. The registry's own layout lives above it (storage/layout.ts), so a
 * driver knows nothing about blobs, tags or repositories.
 *
 * Paths are `/`-separated keys relative to the driver's root, always produced by layout.ts, never by a
 * request. Drivers must still refuse any path with an empty, `.` or `..` segment (see checkPath): that is
 * the last guard that keeps every access inside the storage root.
 *
 * Invariants every driver keeps (the shared suite in storage/testing checks them):
 * - putContent and move make the new content visible at once and whole: a reader sees the old value or
 *   the new one, never a partial file.
 * - move may be implemented as copy + delete (object stores have no rename); callers only move to
 *   content-addressed keys, so a repeated or concurrent move is harmless.
 * - Once a write method resolves, the data is durable (fsync or the backend's acknowledgement).
 * - No correctness depends on in-process state: two processes over the same root see the same data.
 * - A missing path is `undefined` (stat, getContent, reader) or an empty list (list), never an exception.
 */
import type { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';

export interface FileInfo {
  readonly size: number;
  readonly modifiedAt: Date;
  readonly isDirectory: boolean;
}

/** A writer appending to one path; used for upload sessions that arrive in chunks. */
export interface AppendWriter {
  /** Bytes in the file before this writer wrote anything. */
  readonly startSize: number;
  write(chunk: Buffer): Promise<void>;
  /** Flushes and makes durable everything written; the writer cannot be used afterwards. */
  commit(): Promise<void>;
  /** Discards everything this writer wrote (the file is back to startSize) and releases it. */
  abort(): Promise<void>;
}

export interface PutOptions {
  durable?: boolean;
  readerValidates?: boolean;
}

export interface StorageDriver {
  readonly name: string;
  stat(path: string): Promise<FileInfo | undefined>;
  getContent(path: string): Promise<Buffer | undefined>;
  /**
   * Writes a whole file atomically. `durable: false` allows skipping the flush to stable storage (for
   * bookkeeping that a power failure may lose without harm, e.g. an upload's start time).
   * `readerValidates: true` (link files, whose content a reader checks against the path) lets a driver
   * make a file that did not exist before durable with fewer flushes, at the price that a power failure
   * BEFORE the call resolves may leave it empty; a file that existed keeps its old or new content.
   */
  putContent(path: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** Streams `[start, end]` (inclusive) or the whole file; undefined when the path does not exist. */
  reader(path: string, range?: { start: number; end: number }): Promise<Readable | undefined>;
  appendWriter(path: string): Promise<AppendWriter>;
  /** Names of the direct children of a directory-like prefix, sorted; empty when it does not exist. */
  list(path: string): Promise<string[]>;
  /** Moves a file; the destination appears whole or not at all. Overwrites the destination. */
  move(from: string, to: string): Promise<void>;
  /** Deletes a file or everything under a prefix; no error when nothing is there. */
  delete(path: string): Promise<void>;
  /**
   * Optional, where making and removing directories is dear (the filesystem): keeps the directory `path`,
   * if it holds only the file `keep`, for `reviveDirectory` instead of deleting it. False when it did
   * not (the caller deletes it as usual).
   */
  retireDirectory?(path: string, keep: string): Promise<boolean>;
  /**
   * Optional, where a written name is not durable until flushed (the filesystem): flushes the file `path`
   * and its directory. Object stores make a name durable when they answer the write.
   */
  flush?(path: string): Promise<void>;
  /**
   * Optional: creates the directory `path` (which must not exist) holding only the file `name` with
   * `content`, from a retired directory; it appears whole. False when none was left (nothing done).
   * Not durable: for bookkeeping like an upload's start time.
   */
  reviveDirectory?(path: string, name: string, content: Uint8Array): Promise<boolean>;
  /**
   * Optional: stat for many paths at once, in order (as stat). For a backend where one call per path is
   * the main cost (the filesystem: a thread-pool round trip each), it makes the start-up check cheap.
   */
  statMany?(paths: string[]): Promise<Array<FileInfo | undefined>>;
}

export class StoragePathError extends Error {
  constructor(path: string) {
    super(`refused storage path ${JSON.stringify(path.slice(0, 200))}`);
    this.name = 'StoragePathError';
  }
}

/** Rejects any key that could leave the storage root. */
export function checkPath(path: string): string {
  if (path.length === 0 || path.length > 4096 || path.startsWith('/') || path.includes('\0') || path.includes('\\')) {
    throw new StoragePathError(path);
  }
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw new StoragePathError(path);
  }
  return path;
}

/**
 * A reader whose bytes are a local file may carry it (the filesystem driver's readers do), so the HTTP layer
 * can copy it to a socket with reusable buffers, or let a front proxy send it (X-Accel-Redirect), instead
 * of reading the stream. `key` is the driver path (relative to the storage root). Whoever uses the handle
 * destroys the stream afterwards, which closes it.
 */
export interface LocalFile {
  readonly handle: FileHandle;
  readonly key: string;
}

export function localFileOf(stream: Readable): LocalFile | undefined {
  return (stream as Readable & { localFile?: LocalFile }).localFile;
}
