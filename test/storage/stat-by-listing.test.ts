/**
 * statMany by listing (object stores): answers as stat would from one listing, and falls back to single
 * stats when the paths are a small part of a large tree. The listing source here is a plain map of keys,
 * counting its calls; the real stores (Swift s3api, azurite) run the shared driver suite's statMany test.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FileInfo } from '../../src/storage/contract.ts';
import { commonDirectory, statByListing, type ListedObject, type ListingSource } from '../../src/storage/stat-by-listing.ts';

function store(keys: string[]): ListingSource & { pages: number; stats: number } {
  const objects = new Map(keys.map((key, i) => [key, { key, size: i + 1, modifiedAt: new Date(1_700_000_000_000 + i * 1000 + 456) }]));
  const source = {
    pages: 0,
    stats: 0,
    async *listObjects(prefix: string): AsyncIterable<ListedObject[]> {
      const all = [...objects.values()].filter((o) => o.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
      for (let i = 0; i < all.length; i += 1000) {
        source.pages += 1;
        yield all.slice(i, i + 1000);
      }
    },
    async statKey(key: string): Promise<FileInfo | undefined> {
      source.stats += 1;
      const o = objects.get(key);
      if (o) return { size: o.size, modifiedAt: new Date(Math.floor(o.modifiedAt.getTime() / 1000) * 1000), isDirectory: false };
      return [...objects.keys()].some((k) => k.startsWith(`${key}/`)) ? { size: 0, modifiedAt: new Date(0), isDirectory: true } : undefined;
    },
  };
  return source;
}

describe('statMany by listing', () => {
  it('answers as single stats do, from one listing', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `root/repo/_manifests/tags/t${i}/current/link`);
    const source = store([...keys, 'root/repo/_manifests/tags/t0/index/sha256/ab/link']);
    const paths = [...keys, 'root/repo/_manifests/tags/t1', 'root/repo/_manifests/tags/none/current/link', 'root/repo/_manifests/tags/t2/current/link/deeper'];
    const many = await statByListing(source, paths);
    assert.equal(source.pages, 1);
    assert.equal(source.stats, 0);
    const single = await Promise.all(paths.map((p) => source.statKey(p)));
    assert.deepEqual(many, single);
    assert.equal(many[50]?.isDirectory, true);
    assert.equal(many[51], undefined);
    assert.equal(many[52], undefined);
  });

  it('stats each path instead when they are a small part of a large tree', async () => {
    const source = store(Array.from({ length: 3000 }, (_, i) => `root/blobs/${String(i).padStart(4, '0')}/data`));
    const paths = ['root/blobs/0001/data', 'root/blobs/2999/data', 'root/blobs/nope/data'];
    const many = await statByListing(source, paths);
    assert.equal(source.stats, 3, 'fell back to single stats');
    assert.ok(source.pages <= 2, `stopped listing early: ${source.pages} pages`);
    assert.equal(many[0]?.size, 2);
    assert.equal(many[2], undefined);
  });

  it('finds the common directory of the keys', () => {
    assert.equal(commonDirectory(['a/b/c', 'a/b/d/e']), 'a/b/');
    assert.equal(commonDirectory(['a/bc', 'a/bd']), 'a/');
    assert.equal(commonDirectory(['a/b', 'a/b/c']), 'a/');
    assert.equal(commonDirectory(['x', 'y']), '');
  });
});
