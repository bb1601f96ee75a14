import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestCache } from '../../src/registry/manifests/manifest-cache.ts';

it('keeps the most recently used bodies within its byte budget', () => {
  const cache = new ManifestCache(1600); // entries of at most 100 bytes
  const body = (n: number) => Buffer.alloc(100, n);
  for (let i = 0; i < 16; i++) cache.set(`d${i}`, body(i));
  assert.deepEqual(cache.get('d0'), body(0)); // touch d0: now the most recent
  cache.set('d16', body(16)); // over budget: the least recently used (d1) goes
  assert.equal(cache.get('d1'), undefined);
  assert.deepEqual(cache.get('d0'), body(0));
  assert.deepEqual(cache.get('d16'), body(16));
  cache.set('huge', Buffer.alloc(200)); // larger than a sixteenth of the budget: not cached
  assert.equal(cache.get('huge'), undefined);
});
