import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runIndexSuite } from '../../src/index/testing/index-suite.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { MediaType } from '../../src/registry/model/media-types.ts';

runIndexSuite('sqlite (file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-index-'));
  const file = join(dir, 'index.db');
  const index = new SqliteIndex(file);
  return {
    index,
    eventLog: index.eventLog,
    cleanup: async () => { await index.close(); rmSync(dir, { recursive: true, force: true }); },
    lockFromKilledProcess: (id, owner) => lockThenDie(file, id, owner),
  };
});

const SQLITE_INDEX = new URL('../../src/index/sqlite/sqlite-index.ts', import.meta.url).href;

/** Another process takes the lock, says so, and is killed with SIGKILL before it can release it. */
async function lockThenDie(file: string, id: string, owner: string): Promise<void> {
  const script = `const { SqliteIndex } = await import(${JSON.stringify(SQLITE_INDEX)});
    const ok = await new SqliteIndex(${JSON.stringify(file)}).lockUpload(${JSON.stringify(id)}, ${JSON.stringify(owner)}, 3600000);
    process.stdout.write(ok ? 'locked' : 'refused'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve) => child.stdout.once('data', (d) => resolve(String(d))));
  assert.equal(said, 'locked');
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

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
