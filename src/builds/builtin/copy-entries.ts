/**
 * The layer entries of one COPY/ADD: sources matched in a root folder (the build context, or the
 * filesystem of an earlier stage), filtered by `.dockerignore` (context only), placed under the
 * destination with Docker's rules, with `--chown`/`--chmod` applied, sorted by path, every time stamp fixed.
 *
 * Sources never leave the root: `..` is refused, and symbolic links are copied as links, never followed.
 */
import { lstat, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { join } from 'node:path';
import { globToRegExp, isIgnored, type IgnoreRule } from '../dockerfile/dockerignore.ts';
import type { LayerEntry } from './layer-writer.ts';

export class CopyError extends Error {}

export interface CopyOptions {
  root: string;
  sources: string[];
  /** Absolute destination inside the image (WORKDIR already applied); a trailing `/` means a folder. */
  destination: string;
  ignore: readonly IgnoreRule[];
  owner?: { uid: number; gid: number };
  chmod?: number;
  mtime: Date;
}

const hasWildcard = (s: string): boolean => /[*?[]/.test(s);

/** Normalises a source inside the root; throws when it would leave it. */
function cleanSource(source: string): string {
  const normal = posix.normalize(`/${source}`).slice(1).replace(/\/$/, '');
  if (normal.split('/').includes('..')) throw new CopyError(`source ${JSON.stringify(source)} is outside the build context`);
  return normal;
}

async function statOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch {
    return undefined;
  }
}

/** Every path under `dir` (relative to root), depth first, sorted; ignored paths and their contents skipped. */
async function walk(root: string, relative: string, ignore: readonly IgnoreRule[], out: string[]): Promise<void> {
  const names = (await readdir(join(root, relative))).sort();
  for (const name of names) {
    const path = relative === '' ? name : `${relative}/${name}`;
    const ignored = isIgnored(ignore, path);
    const stat = await lstat(join(root, path));
    // An ignored folder may still hold an exception (`!dir/keep`), so folders are walked either way.
    if (!ignored) out.push(path);
    if (stat.isDirectory()) await walk(root, path, ignore, out);
  }
}

async function matchSources(root: string, source: string, ignore: readonly IgnoreRule[]): Promise<string[]> {
  const clean = cleanSource(source);
  if (!hasWildcard(clean)) {
    if (clean !== '' && isIgnored(ignore, clean)) return [];
    return (await statOrUndefined(join(root, clean))) ? [clean] : [];
  }
  const all: string[] = [];
  await walk(root, '', ignore, all);
  const regex = globToRegExp(clean);
  return all.filter((p) => regex.test(p));
}

async function entryFor(root: string, from: string, to: string, options: CopyOptions): Promise<LayerEntry | undefined> {
  const stat = await lstat(join(root, from));
  const base = { path: to, uid: options.owner?.uid ?? 0, gid: options.owner?.gid ?? 0, mtime: options.mtime };
  if (stat.isSymbolicLink()) return { ...base, type: 'symlink', mode: 0o777, linkname: await readlink(join(root, from)) };
  const mode = options.chmod ?? stat.mode & 0o7777;
  if (stat.isDirectory()) return { ...base, type: 'directory', mode };
  if (stat.isFile()) return { ...base, type: 'file', mode, size: stat.size, sourceFile: join(root, from) };
  return undefined; // sockets, devices: not copied
}

export async function copyEntries(options: CopyOptions): Promise<LayerEntry[]> {
  const { root, sources, ignore } = options;
  const destination = options.destination;
  const destinationIsFolder = destination.endsWith('/') || sources.length > 1 || sources.some(hasWildcard);
  if (sources.length > 1 && !destination.endsWith('/')) throw new CopyError(`with more than one source the destination must end with / (got ${JSON.stringify(destination)})`);
  const target = posix.normalize(destination).replace(/\/$/, '').replace(/^\//, '');
  const entries = new Map<string, LayerEntry>();
  const put = (entry: LayerEntry | undefined) => entry && entry.path !== '' && entries.set(entry.path, entry);

  for (const source of sources) {
    const matches = await matchSources(root, source, ignore);
    if (matches.length === 0) throw new CopyError(`${JSON.stringify(source)}: no such file or directory in the ${ignore.length > 0 ? 'build context (after .dockerignore)' : 'source'}`);
    for (const match of matches) {
      const stat = (await lstat(join(root, match)))!;
      if (stat.isDirectory()) {
        // A folder's contents go into the destination folder.
        const inside: string[] = [];
        await walk(root, match, ignore, inside);
        if (target !== '') put({ path: target, type: 'directory', mode: options.chmod ?? stat.mode & 0o7777, uid: options.owner?.uid ?? 0, gid: options.owner?.gid ?? 0, mtime: options.mtime });
        for (const path of inside) put(await entryFor(root, path, posix.join(target, path.slice(match.length + (match === '' ? 0 : 1))), options));
      } else {
        const to = destinationIsFolder ? posix.join(target, posix.basename(match)) : target;
        if (to === '') throw new CopyError(`cannot copy the file ${JSON.stringify(match)} onto /`);
        put(await entryFor(root, match, to, options));
      }
    }
  }
  // Parent folders of everything copied, as Docker creates them (owned by root unless inside the copied tree).
  for (const path of [...entries.keys()]) {
    const parts = path.split('/');
    for (let n = 1; n < parts.length; n++) {
      const parent = parts.slice(0, n).join('/');
      if (!entries.has(parent)) entries.set(parent, { path: parent, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: options.mtime });
    }
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
