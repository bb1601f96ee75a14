/**
 * Writes one image layer: tar entries (tar-stream) → gzip (zlib) → a temporary file, hashing the tar
 * (the diff id) and the gzip (the blob digest) as the bytes pass. Nothing is held whole in memory: file
 * contents stream from disk through the archive into the file. Same entries in the same order with the
 * same headers give the same bytes, hence the same digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

export interface LayerEntry {
  /** Path inside the image, without a leading `/`; directories without a trailing one. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  /** A file: its size and where to read it. */
  size?: number;
  sourceFile?: string;
  /** A symlink: its target. */
  linkname?: string;
}

export interface WrittenLayer {
  file: string;
  /** sha256 of the compressed bytes: the blob's digest. */
  digest: string;
  /** sha256 of the uncompressed tar: the config's rootfs diff id. */
  diffId: string;
  size: number;
}

function hashing(hash: ReturnType<typeof createHash>, count?: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      if (count) count.bytes += chunk.length;
      done(null, chunk);
    },
  });
}

export async function writeLayer(entries: readonly LayerEntry[], file: string, signal?: AbortSignal): Promise<WrittenLayer> {
  const pack = tar.pack();
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  const count = { bytes: 0 };
  const written = pipeline(pack, hashing(diff), createGzip({ level: 6 }), hashing(blob, count), createWriteStream(file), signal ? { signal } : {});
  const feed = (async () => {
    for (const entry of entries) {
      signal?.throwIfAborted();
      const header = {
        name: entry.type === 'directory' ? `${entry.path}/` : entry.path,
        type: entry.type,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        uname: '',
        gname: '',
        mtime: entry.mtime,
        ...(entry.type === 'file' ? { size: entry.size ?? 0 } : {}),
        ...(entry.type === 'symlink' ? { linkname: entry.linkname ?? '' } : {}),
      };
      if (entry.type !== 'file') {
        await new Promise<void>((resolve, reject) => pack.entry(header, (error) => (error ? reject(error) : resolve())));
        continue;
      }
      const sink = pack.entry(header);
      await pipeline(createReadStream(entry.sourceFile!), sink);
    }
    pack.finalize();
  })();
  try {
    await Promise.all([feed, written]);
  } catch (error) {
    pack.destroy(error as Error);
    throw error;
  }
  return { file, digest: `sha256:${blob.digest('hex')}`, diffId: `sha256:${diff.digest('hex')}`, size: count.bytes };
}
