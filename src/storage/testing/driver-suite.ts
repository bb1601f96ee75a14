/**
 * The one suite every storage driver passes (filesystem, memory, and the object-store drivers to come).
 * Call it from a test file with a factory giving a fresh, empty driver and a cleanup.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { StorageDriver } from '../contract.ts';

export interface DriverFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

async function readAll(stream: AsyncIterable<unknown> | undefined): Promise<Buffer> {
  assert.ok(stream, 'expected a stream');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

export function runDriverSuite(name: string, create: () => Promise<DriverFixture>): void {
  describe(`storage driver contract: ${name}`, () => {
    let fixture: DriverFixture;
    let driver: StorageDriver;
    beforeEach(async () => {
      fixture = await create();
      driver = fixture.driver;
    });
    afterEach(() => fixture.cleanup());

    it('reports a missing path as undefined or empty, never as an error', async () => {
      assert.equal(await driver.stat('a/b/c'), undefined);
      assert.equal(await driver.getContent('a/b/c'), undefined);
      assert.equal(await driver.reader('a/b/c'), undefined);
      assert.deepEqual(await driver.list('a/b'), []);
      await driver.delete('a/b/c');
    });

    it('statMany, where a driver has it, answers as stat does, in order', async (t) => {
      if (!driver.statMany) return t.skip('optional capability not offered by this driver');
      await driver.putContent('a/b/one', Buffer.from('12345'));
      await driver.putContent('a/two', Buffer.from('1'));
      const paths = ['a/b/one', 'a/missing', 'a/b', 'a/two', 'a/b/one/deeper'];
      const many = await driver.statMany(paths);
      const single = await Promise.all(paths.map((p) => driver.stat(p)));
      assert.deepEqual(many.map((i) => i && { size: i.isDirectory ? 0 : i.size, dir: i.isDirectory, t: i.modifiedAt.getTime() }), single.map((i) => i && { size: i.isDirectory ? 0 : i.size, dir: i.isDirectory, t: i.modifiedAt.getTime() }));
      assert.equal(many[1], undefined);
      assert.equal(many[4], undefined);
    });

    it('round-trips content and reports its size', async () => {
      const data = randomBytes(3000);
      await driver.putContent('x/y/file', data);
      assert.deepEqual(await driver.getContent('x/y/file'), data);
      const info = await driver.stat('x/y/file');
      assert.equal(info?.size, 3000);
      assert.equal(info?.isDirectory, false);
      assert.equal((await driver.stat('x/y'))?.isDirectory, true);
    });

    it('overwrites content whole', async () => {
      await driver.putContent('k', Buffer.from('first version, longer'));
      await driver.putContent('k', Buffer.from('second'));
      assert.equal((await driver.getContent('k'))?.toString(), 'second');
    });

    it('streams a whole file and an inclusive byte range', async () => {
      const data = randomBytes(5 * 1024 * 1024 + 7);
      await driver.putContent('big', data);
      assert.deepEqual(await readAll(await driver.reader('big')), data);
      assert.deepEqual(await readAll(await driver.reader('big', { start: 10, end: 20 })), data.subarray(10, 21));
      const last = data.length - 1;
      assert.deepEqual(await readAll(await driver.reader('big', { start: last, end: last })), data.subarray(last));
    });

    it('appends across writers, as an upload arriving in chunks does', async () => {
      const first = await driver.appendWriter('u/data');
      assert.equal(first.startSize, 0);
      await first.write(Buffer.from('hello '));
      await first.commit();
      const second = await driver.appendWriter('u/data');
      assert.equal(second.startSize, 6);
      await second.write(Buffer.from('world'));
      await second.commit();
      assert.equal((await driver.getContent('u/data'))?.toString(), 'hello world');
      assert.equal((await driver.stat('u/data'))?.size, 11);
    });

    it('an aborted append leaves the file as it was', async () => {
      const first = await driver.appendWriter('u/data');
      await first.write(Buffer.from('kept'));
      await first.commit();
      const second = await driver.appendWriter('u/data');
      await second.write(Buffer.alloc(3 * 1024 * 1024, 1)); // more than any write batch
      await second.write(Buffer.from('tail'));
      await second.abort();
      assert.equal((await driver.getContent('u/data'))?.toString(), 'kept');
    });

    it('lists direct children sorted, without temporary files', async () => {
      await driver.putContent('dir/b/file', Buffer.from('1'));
      await driver.putContent('dir/a', Buffer.from('2'));
      await driver.putContent('dir/c/d/e', Buffer.from('3'));
      assert.deepEqual(await driver.list('dir'), ['a', 'b', 'c']);
      assert.deepEqual(await driver.list('dir/c'), ['d']);
    });

    it('moves a file, replacing the destination, and the source is gone', async () => {
      await driver.putContent('from/f', Buffer.from('moved'));
      await driver.putContent('to/f', Buffer.from('old'));
      await driver.move('from/f', 'to/f');
      assert.equal((await driver.getContent('to/f'))?.toString(), 'moved');
      assert.equal(await driver.stat('from/f'), undefined);
      await driver.move('missing/f', 'to2/f').then(
        () => assert.fail('moving a missing file must fail'),
        () => undefined,
      );
    });

    it('deletes a file or a whole prefix', async () => {
      await driver.putContent('del/a/1', Buffer.from('1'));
      await driver.putContent('del/a/2', Buffer.from('2'));
      await driver.putContent('del/b', Buffer.from('3'));
      await driver.delete('del/a');
      assert.deepEqual(await driver.list('del'), ['b']);
      await driver.delete('del/b');
      assert.equal(await driver.stat('del/b'), undefined);
    });

    it('refuses every path that could leave the root', async () => {
      for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', 'a\\b', 'a\0b']) {
        await assert.rejects(driver.getContent(bad), /refused storage path/, `getContent(${JSON.stringify(bad)})`);
        await assert.rejects(driver.putContent(bad, Buffer.from('x')), /refused storage path/, `putContent(${JSON.stringify(bad)})`);
        await assert.rejects(driver.delete(bad), /refused storage path/, `delete(${JSON.stringify(bad)})`);
      }
    });

    it('never shows a reader half of a concurrent overwrite', async () => {
      const a = Buffer.alloc(256 * 1024, 'a');
      const b = Buffer.alloc(256 * 1024, 'b');
      await driver.putContent('race', a);
      const writes = Array.from({ length: 10 }, (_, i) => driver.putContent('race', i % 2 ? a : b));
      const reads = Array.from({ length: 20 }, () => driver.getContent('race'));
      await Promise.all(writes);
      for (const content of await Promise.all(reads)) {
        assert.ok(content && (content.equals(a) || content.equals(b)), 'a reader saw a mixed or partial file');
      }
    });
  });
}
