/**
 * The filesystem push path's shortcuts, against a real directory: upload session directories are reused
 * (and only when they hold nothing but their start time), link files written with one flush still land
 * whole, an existing link is replaced atomically, and deletes of files and small directories work without
 * a tree walk. The layout a push leaves is checked by the interop tests (the reference registry reads it).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FilesystemDriver } from '../../src/storage/filesystem/filesystem-driver.ts';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import { digestOf } from '../../src/registry/model/digest.ts';
import * as layout from '../../src/storage/layout.ts';
import { Registry } from '../../src/registry/registry.ts';
import { DEFAULT_REGISTRY_OPTIONS } from '../../src/registry/context.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pier-push-path-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('filesystem push path', () => {
  it('reuses a committed upload session directory for the next session, with the new start time', async () => {
    const root = join(scratch, 'reuse');
    const storage = new DriverRegistryStorage(new FilesystemDriver(root));
    await storage.createUpload('team/app', 'aaaaaaaa-0000-4000-8000-000000000001', new Date('2026-01-01T00:00:00.000Z'));
    const appender = await storage.appendToUpload('team/app', 'aaaaaaaa-0000-4000-8000-000000000001');
    await appender.write(Buffer.from('layer bytes'));
    await appender.commit();
    const digest = digestOf(Buffer.from('layer bytes'), 'sha256');
    await storage.commitUpload('team/app', 'aaaaaaaa-0000-4000-8000-000000000001', digest);
    assert.equal(readFileSync(join(root, layout.blobDataPath(digest)), 'utf8'), 'layer bytes');
    assert.deepEqual(readdirSync(join(root, layout.uploadsPath('team/app'))), []);
    const spares = readdirSync(join(root, 'pier', 'spare'));
    assert.equal(spares.length, 1);

    await storage.createUpload('other/repo', 'bbbbbbbb-0000-4000-8000-000000000002', new Date('2026-02-02T00:00:00.000Z'));
    assert.deepEqual(readdirSync(join(root, 'pier', 'spare')), []);
    assert.deepEqual(readdirSync(join(root, layout.uploadDirectory('other/repo', 'bbbbbbbb-0000-4000-8000-000000000002'))), ['startedat']);
    const status = await storage.uploadStatus('other/repo', 'bbbbbbbb-0000-4000-8000-000000000002');
    assert.deepEqual(status, { size: 0, startedAt: new Date('2026-02-02T00:00:00.000Z') });
    assert.equal(await storage.hasUpload('other/repo', 'bbbbbbbb-0000-4000-8000-000000000002'), true);
    assert.equal(await storage.hasUpload('other/repo', 'cccccccc-0000-4000-8000-000000000003'), false);
  });

  it('never keeps a session directory that holds more than its start time', async () => {
    const root = join(scratch, 'keep-only-clean');
    const storage = new DriverRegistryStorage(new FilesystemDriver(root));
    const id = 'dddddddd-0000-4000-8000-000000000004';
    await storage.createUpload('r', id, new Date());
    const appender = await storage.appendToUpload('r', id);
    await appender.write(Buffer.from('x'));
    await appender.commit();
    // As a session begun by the reference registry would: its hash states beside the data.
    mkdirSync(join(root, layout.uploadDirectory('r', id), 'hashstates', 'sha256'), { recursive: true });
    writeFileSync(join(root, layout.uploadDirectory('r', id), 'hashstates', 'sha256', '0'), 'state');
    await storage.commitUpload('r', id, digestOf(Buffer.from('x'), 'sha256'));
    assert.equal(existsSync(join(root, layout.uploadDirectory('r', id))), false);
    assert.equal(existsSync(join(root, 'pier', 'spare')) ? readdirSync(join(root, 'pier', 'spare')).length : 0, 0);
  });

  it('writes new link files whole, replaces existing ones, and leaves no temporary file', async () => {
    const root = join(scratch, 'links');
    const storage = new DriverRegistryStorage(new FilesystemDriver(root));
    const first = digestOf(Buffer.from('one'), 'sha256');
    const second = digestOf(Buffer.from('two'), 'sha256');
    await storage.linkLayer('r', first);
    await storage.linkRevision('r', first);
    await storage.writeTag('r', 'latest', first);
    await storage.writeTag('r', 'latest', second); // a moved tag: the existing current link is replaced
    assert.equal(readFileSync(join(root, layout.layerLinkPath('r', first)), 'utf8'), first.value);
    assert.equal(readFileSync(join(root, layout.revisionLinkPath('r', first)), 'utf8'), first.value);
    assert.equal(readFileSync(join(root, layout.tagCurrentLinkPath('r', 'latest')), 'utf8'), second.value);
    assert.deepEqual(readdirSync(join(root, layout.tagPath('r', 'latest'), 'current')), ['link']);
    assert.equal((await storage.readTag('r', 'latest'))?.value, second.value);
    assert.equal(await storage.hasLayer('r', first), true);
  });

  it('deletes files, small directories and trees', async () => {
    const root = join(scratch, 'deletes');
    const driver = new FilesystemDriver(root);
    await driver.putContent('a/file', Buffer.from('1'));
    await driver.putContent('b/one', Buffer.from('1'));
    await driver.putContent('b/two', Buffer.from('2'));
    await driver.putContent('c/d/e/f', Buffer.from('3'));
    await driver.putContent('c/g', Buffer.from('4'));
    await driver.delete('a/file');
    await driver.delete('b');
    await driver.delete('c');
    await driver.delete('missing/path');
    assert.deepEqual(readdirSync(root).sort(), ['a']);
    assert.deepEqual(readdirSync(join(root, 'a')), []);
  });

  it('flushes a blob that an upload finds already there before acknowledging the push', async () => {
    const root = join(scratch, 'found-there');
    const driver = new FilesystemDriver(root);
    const flushed: string[] = [];
    const flush = driver.flush.bind(driver);
    driver.flush = async (path: string) => {
      flushed.push(path);
      await flush(path);
    };
    const index = new SqliteIndex(':memory:');
    const registry = new Registry({ storage: new DriverRegistryStorage(driver), index, clock: { now: () => new Date() }, options: DEFAULT_REGISTRY_OPTIONS });
    const bytes = Buffer.from('the same layer, pushed twice');
    const digest = digestOf(bytes, 'sha256');
    const push = async (repository: string) => {
      const id = await registry.uploads.start(repository);
      await registry.uploads.complete(repository, id, digest, { stream: (async function* () { yield bytes; })(), length: bytes.length });
    };
    await push('team/first');
    assert.deepEqual(flushed, [], 'an upload that moves its own bytes in flushes them on the way (no extra flush)');
    await push('team/second');
    assert.deepEqual(flushed, [layout.blobDataPath(digest)], 'the bytes found there were flushed, file and directory');
    await index.close();
  });
});
