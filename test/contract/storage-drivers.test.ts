import { mkdtempSync, rmSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runDriverSuite } from '../../src/storage/testing/driver-suite.ts';
import { MemoryDriver } from '../../src/storage/memory/memory-driver.ts';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';

runDriverSuite('memory', async () => ({ driver: new MemoryDriver(), cleanup: async () => undefined }));

runDriverSuite('filesystem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-fs-driver-'));
  return { driver: new FilesystemDriver(join(dir, 'root')), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

it('filesystem driver leaves no temporary file behind and writes nothing outside its root', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-fs-root-'));
  try {
    const driver = new FilesystemDriver(join(dir, 'root'));
    await driver.putContent('a/b', Buffer.from('x'));
    await driver.putContent('a/b', Buffer.from('y'));
    await driver.getContent('../escape').catch(() => undefined);
    await driver.putContent('../escape', Buffer.from('x')).catch(() => undefined);
    assert.deepEqual(readdirSync(join(dir, 'root', 'a')), ['b']);
    assert.deepEqual(readdirSync(dir), ['root']);
    assert.equal(existsSync(join(dir, 'escape')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
