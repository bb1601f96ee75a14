/**
 * statMany for object stores (S3, Azure Blob): one recursive listing under the paths' common directory
 * instead of a request or two per path. A listing page returns up to 1,000 keys with their sizes and
 * modification times, so stat-ing the tags or revisions of a repository (the start-up fingerprint, see
 * RegistryStorage.repositoryFingerprint) costs a request per 1,000 keys rather than one per tag.
 *
 * Answers as the driver's stat does: an object at the key is a file; otherwise a key that some object
 * lies under is a directory (size 0, time 0, as object stores have no directories); otherwise nothing.
 * Times are whole seconds, as a HEAD's Last-Modified header gives them.
 *
 * When the paths are a small part of a large tree (the listing passes `maxKeysPerPath` keys per path),
 * it stops and stats each path instead, so it never costs much more than that would.
 */
import type { FileInfo } from './contract.ts';
import { mapConcurrently } from '../registry/map-concurrently.ts';

export interface ListedObject {
  key: string;
  size: number;
  modifiedAt: Date;
}

export interface ListingSource {
  /** Every object whose key starts with `prefix`, page by page. */
  listObjects(prefix: string): AsyncIterable<ListedObject[]>;
  /** The driver's own stat, by object key. */
  statKey(key: string): Promise<FileInfo | undefined>;
}

const DIRECTORY: FileInfo = { size: 0, modifiedAt: new Date(0), isDirectory: true };

/** Below this many paths a listing saves nothing over single stats. */
const MIN_PATHS = 3;

export async function statByListing(source: ListingSource, keys: string[], maxKeysPerPath = 20): Promise<Array<FileInfo | undefined>> {
  const single = (): Promise<Array<FileInfo | undefined>> => mapConcurrently(keys, (key) => source.statKey(key), 16);
  if (keys.length < MIN_PATHS) return single();
  const base = commonDirectory(keys);
  const limit = maxKeysPerPath * keys.length + 1000;
  const objects = new Map<string, FileInfo>();
  for await (const page of source.listObjects(base)) {
    for (const o of page) objects.set(o.key, { size: o.size, modifiedAt: wholeSeconds(o.modifiedAt), isDirectory: false });
    if (objects.size > limit) return single();
  }
  const wanted = new Set(keys);
  const directories = new Set<string>();
  for (const key of objects.keys()) {
    for (let i = key.indexOf('/', base.length); i !== -1; i = key.indexOf('/', i + 1)) {
      const directory = key.slice(0, i);
      if (wanted.has(directory)) directories.add(directory);
    }
  }
  return keys.map((key) => objects.get(key) ?? (directories.has(key) ? DIRECTORY : undefined));
}

/** The longest common prefix of the keys, cut after its last '/' ('' when they share no directory). */
export function commonDirectory(keys: string[]): string {
  let prefix = keys[0] ?? '';
  for (const key of keys) {
    let n = 0;
    while (n < prefix.length && n < key.length && prefix.charCodeAt(n) === key.charCodeAt(n)) n++;
    prefix = prefix.slice(0, n);
  }
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
