/** In-memory storage driver, for fast tests. Keeps the same contract as the durable drivers. */
import { Readable } from 'node:stream';
import { checkPath, type AppendWriter, type FileInfo, type StorageDriver } from '../contract.ts';

interface Entry {
  data: Buffer;
  modifiedAt: Date;
}

export class MemoryDriver implements StorageDriver {
  readonly name = 'memory';
  private readonly files = new Map<string, Entry>();

  async stat(path: string): Promise<FileInfo | undefined> {
    checkPath(path);
    const file = this.files.get(path);
    if (file) return { size: file.data.length, modifiedAt: file.modifiedAt, isDirectory: false };
    const prefix = `${path}/`;
    for (const key of this.files.keys()) {
      if (key.startsWith(prefix)) return { size: 0, modifiedAt: new Date(0), isDirectory: true };
    }
    return undefined;
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    checkPath(path);
    const file = this.files.get(path);
    return file ? Buffer.from(file.data) : undefined;
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    checkPath(path);
    this.files.set(path, { data: Buffer.from(data), modifiedAt: new Date() });
  }

  async reader(path: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    checkPath(path);
    const file = this.files.get(path);
    if (!file) return undefined;
    const data = range ? file.data.subarray(range.start, range.end + 1) : file.data;
    return Readable.from([Buffer.from(data)]);
  }

  async appendWriter(path: string): Promise<AppendWriter> {
    checkPath(path);
    const files = this.files;
    const startSize = files.get(path)?.data.length ?? 0;
    if (!files.has(path)) files.set(path, { data: Buffer.alloc(0), modifiedAt: new Date() });
    let closed = false;
    return {
      startSize,
      async write(chunk: Buffer): Promise<void> {
        if (closed) throw new Error('writer is closed');
        const current = files.get(path)?.data ?? Buffer.alloc(0);
        files.set(path, { data: Buffer.concat([current, chunk]), modifiedAt: new Date() });
      },
      async commit(): Promise<void> {
        closed = true;
      },
      async abort(): Promise<void> {
        if (closed) return;
        closed = true;
        const current = files.get(path)?.data ?? Buffer.alloc(0);
        files.set(path, { data: current.subarray(0, startSize), modifiedAt: new Date() });
      },
    };
  }

  async list(path: string): Promise<string[]> {
    checkPath(path);
    const prefix = `${path}/`;
    const names = new Set<string>();
    for (const key of this.files.keys()) {
      if (key.startsWith(prefix)) names.add(key.slice(prefix.length).split('/')[0]!);
    }
    return [...names].sort();
  }

  async move(from: string, to: string): Promise<void> {
    checkPath(from);
    checkPath(to);
    const file = this.files.get(from);
    if (!file) throw Object.assign(new Error(`no such file: ${from}`), { code: 'ENOENT' });
    this.files.set(to, file);
    this.files.delete(from);
  }

  async delete(path: string): Promise<void> {
    checkPath(path);
    this.files.delete(path);
    const prefix = `${path}/`;
    for (const key of [...this.files.keys()]) if (key.startsWith(prefix)) this.files.delete(key);
  }
}
