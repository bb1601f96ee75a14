/**
 * Build contexts uploaded over the admin API, as a tar archive (optionally gzip-compressed), instead of a
 * git source. The upload streams to a temporary file that is fsynced and renamed under the builds'
 * context folder (so a build requeued after a restart still finds it); it is deleted when its build ends.
 * Extraction reuses the layer extractor: nothing is written outside the build's folder.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyLayer } from './builtin/extract-layers.ts';

export class ArchiveTooLarge extends Error {}

export const archivePath = (folder: string, id: string): string => join(folder, `${id}.tar`);

/** Stores the upload; returns its id (a file name) and sha256 digest. */
export async function storeArchive(folder: string, body: AsyncIterable<Buffer>, maxBytes: number): Promise<{ id: string; digest: string; size: number }> {
  await mkdir(folder, { recursive: true });
  const id = randomUUID();
  const temp = join(folder, `.${id}.partial`);
  const hash = createHash('sha256');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _e, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new ArchiveTooLarge(`the context archive is larger than ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, createWriteStream(temp, { mode: 0o600 }));
    const handle = await open(temp, 'r');
    await handle.sync();
    await handle.close();
    await rename(temp, archivePath(folder, id));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { id, digest: `sha256:${hash.digest('hex')}`, size };
}

/** Extracts a stored archive (tar or tar.gz, told apart by the gzip magic bytes) into `dir`. */
export async function extractArchive(folder: string, id: string, dir: string): Promise<void> {
  const path = archivePath(folder, id);
  const head = await open(path, 'r');
  const magic = Buffer.alloc(2);
  await head.read(magic, 0, 2, 0);
  await head.close();
  await mkdir(dir, { recursive: true });
  await applyLayer(dir, createReadStream(path), magic[0] === 0x1f && magic[1] === 0x8b);
}

export async function removeArchive(folder: string, id: string): Promise<void> {
  await rm(archivePath(folder, id), { force: true });
}
