/**
 * Applies image layers, in order, to an empty folder: the filesystem of a stage, for `COPY --from`.
 * Streams each layer (gunzip → tar-stream), applies OCI whiteouts (`.wh.name`, `.wh..wh..opq`), and never
 * writes outside the folder: paths with `..` are skipped and no entry is written through a symbolic link.
 * Ownership is not applied (the files are only read back); modes are.
 */
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rm, symlink, chmod } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

/** True when no component of `relative` below the root (excluding the last) is a symbolic link. */
async function parentsAreFolders(root: string, relative: string): Promise<boolean> {
  const parts = relative.split('/').slice(0, -1);
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    const stat = await lstat(path).catch(() => undefined);
    if (stat === undefined) {
      await mkdir(path, { recursive: false });
      continue;
    }
    if (!stat.isDirectory()) return false;
  }
  return true;
}

export async function applyLayer(root: string, layer: Readable, compressed: boolean): Promise<void> {
  const extract = tar.extract();
  const source = compressed ? layer.pipe(createGunzip()) : layer;
  const done = pipeline(source, extract);
  for await (const entry of extract) {
    const header = entry.header;
    const relative = posix.normalize(`/${header.name}`).slice(1).replace(/\/$/, '');
    const safe = relative !== '' && !relative.split('/').includes('..') && (await parentsAreFolders(root, relative));
    if (!safe) {
      entry.resume();
      continue;
    }
    const base = posix.basename(relative);
    const target = join(root, relative);
    if (base === '.wh..wh..opq') {
      for (const name of await readdir(dirname(target)).catch(() => [] as string[])) await rm(join(dirname(target), name), { recursive: true, force: true });
      entry.resume();
      continue;
    }
    if (base.startsWith('.wh.')) {
      await rm(join(dirname(target), base.slice(4)), { recursive: true, force: true });
      entry.resume();
      continue;
    }
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !(existing.isDirectory() && header.type === 'directory')) await rm(target, { recursive: true, force: true });
    switch (header.type) {
      case 'directory':
        await mkdir(target, { recursive: true });
        await chmod(target, (header.mode ?? 0o755) & 0o7777);
        entry.resume();
        break;
      case 'file':
      case 'contiguous-file':
        await pipeline(entry, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o7777 }));
        break;
      case 'symlink':
        await symlink(header.linkname ?? '', target);
        entry.resume();
        break;
      default:
        // hard links, devices, fifos: not needed to read files back
        entry.resume();
    }
  }
  await done;
}
