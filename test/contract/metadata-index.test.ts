import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runIndexSuite } from '../../src/index/testing/index-suite.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { MediaType } from '../../src/registry/model/media-types.ts';

runIndexSuite('sqlite (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-index-'));
  const index = new SqliteIndex(join(dir, 'index.db'));
  return { index, eventLog: index.eventLog, cleanup: async () => { await index.close(); rmSync(dir, { recursive: true, force: true }); } };
});

runIndexSuite('sqlite (memory)', async () => {
  const index = new SqliteIndex(':memory:');
  return { index, eventLog: index.eventLog, cleanup: () => index.close() };
});

it('two handles on one SQLite file see each other\'s writes (processes sharing a data directory)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-index-'));
  const a = new SqliteIndex(join(dir, 'index.db'));
  const b = new SqliteIndex(join(dir, 'index.db'));
  try {
    const digest = `sha256:${'1'.repeat(64)}`;
    await a.putManifest({ repository: 'app', digest, mediaType: MediaType.ociManifest, size: 5, blobs: [], children: [], tag: 't' });
    assert.equal((await b.resolveTag('app', 't'))?.digest, digest);
    assert.equal(b.isBuilt(), false);
    a.markBuilt();
    assert.equal(b.isBuilt(), true);
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
