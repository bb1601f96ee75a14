/** Retention policies, and scrub finding (and repairing) a flipped byte and a missing blob. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startPier } from '../support/pier.ts';
import { pushImage, digestOf } from '../support/http-fixtures.ts';
import { openRegistry } from '../../src/main/open-registry.ts';
import { applyRetention } from '../../src/registry/gc/apply-retention.ts';
import { collectGarbage } from '../../src/registry/gc/collect-garbage.ts';
import { scrub } from '../../src/registry/scrub/scrub.ts';
import { TagImmutability } from '../../src/registry/policies/immutability.ts';
import { createLogger } from '../../src/observability/logger.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const blobFile = (dataDir: string, digest: string) => {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
};

describe('retention', () => {
  it('keeps the newest N, tags matching keepTags, immutable tags; deletes the rest; GC then frees their blobs', async () => {
    const pier = await startPier();
    try {
      const images = [];
      for (const tag of ['1.0', '1.1', 'stable', '1.2', '1.3', 'v9']) {
        images.push({ tag, image: await pushImage(pier.url, 'ret/app', tag) });
        await sleep(15); // distinct push times
      }
      await pushImage(pier.url, 'other/app', 'old');
      const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') });
      try {
        const rules = [{ repository: 'ret/*', keepLast: 2, keepTags: ['stable'] }];
        const immutability = new TagImmutability([{ repository: 'ret/app', tag: 'v9' }]);
        const dry = await applyRetention(opened.storage, opened.index, rules, immutability, { dryRun: true });
        assert.deepEqual(dry.deleted.map((d) => d.tag).sort(), ['1.0', '1.1', '1.2']);
        const tagsBefore = (await (await fetch(`${pier.url}/v2/ret/app/tags/list`)).json()) as { tags: string[] };
        assert.equal(tagsBefore.tags.length, 6, 'a dry run deletes nothing');

        const report = await applyRetention(opened.storage, opened.index, rules, immutability, { dryRun: false });
        assert.deepEqual(report.deleted.map((d) => d.tag).sort(), ['1.0', '1.1', '1.2']);
        const tags = (await (await fetch(`${pier.url}/v2/ret/app/tags/list`)).json()) as { tags: string[] };
        assert.deepEqual(tags.tags, ['1.3', 'stable', 'v9'], 'the newest two are 1.3 and v9; stable is kept by pattern');
        assert.deepEqual((await (await fetch(`${pier.url}/v2/other/app/tags/list`)).json()), { name: 'other/app', tags: ['old'] }, 'unmatched repositories are untouched');
        assert.equal(existsSync(join(pier.dataDir, 'docker/registry/v2/repositories/ret/app/_manifests/tags/1.0')), false, 'the tag is gone from storage too');

        const gc = await collectGarbage(opened.storage, opened.index, { gracePeriodMs: 0, deleteUntagged: true, keepReferrers: true, dryRun: false, now: new Date(Date.now() + 5_000) });
        const freed = new Set(gc.blobsDeleted.map((b) => b.digest));
        for (const { tag, image } of images) {
          const expectGone = ['1.0', '1.1', '1.2'].includes(tag);
          for (const blob of image.blobs) assert.equal(freed.has(blob.digest), expectGone, `${tag} blob`);
        }
      } finally {
        await opened.close();
      }
    } finally {
      await pier.close();
    }
  });

  it('deletes tags older than maxAge unless kept otherwise', async () => {
    const pier = await startPier();
    try {
      await pushImage(pier.url, 'age/app', 'old');
      await sleep(300);
      await pushImage(pier.url, 'age/app', 'new');
      const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') });
      try {
        const report = await applyRetention(opened.storage, opened.index, [{ repository: 'age/**', maxAgeMs: 200 }], new TagImmutability([]), { dryRun: false });
        assert.deepEqual(report.deleted.map((d) => d.tag), ['old']);
      } finally {
        await opened.close();
      }
    } finally {
      await pier.close();
    }
  });
});

describe('scrub', () => {
  it('reports a flipped byte and a missing blob, exits clean on a healthy store, and repair quarantines the corrupt blob', async () => {
    const pier = await startPier();
    try {
      const good = await pushImage(pier.url, 'scrub/app', 'good', { layers: [Buffer.alloc(5000, 1)] });
      const flipped = await pushImage(pier.url, 'scrub/app', 'flipped', { layers: [Buffer.alloc(5000, 2)] });
      const missing = await pushImage(pier.url, 'scrub/app', 'missing', { layers: [Buffer.alloc(5000, 3)] });
      const opened = await openRegistry({ dataDir: pier.dataDir, logger: createLogger('silent') });
      try {
        const healthy = await scrub(opened.storage, opened.index, { repair: false });
        assert.deepEqual(healthy.problems, []);
        assert.ok(healthy.blobsChecked >= 9);
        assert.equal(healthy.manifestsChecked, 3);

        const flippedLayer = flipped.blobs[1]!.digest;
        const file = blobFile(pier.dataDir, flippedLayer);
        const bytes = readFileSync(file);
        bytes[100] = bytes[100]! ^ 0xff;
        writeFileSync(file, bytes);
        const missingLayer = missing.blobs[1]!.digest;
        rmSync(blobFile(pier.dataDir, missingLayer));

        const report = await scrub(opened.storage, opened.index, { repair: false });
        const kinds = report.problems.map((p) => `${p.kind}:${'digest' in p ? p.digest : ''}`);
        assert.ok(kinds.includes(`corrupt-blob:${flippedLayer}`), kinds.join('\n'));
        assert.ok(kinds.includes(`missing-blob:${missingLayer}`), kinds.join('\n'));
        assert.ok(kinds.includes(`dangling-link:${missingLayer}`), kinds.join('\n'));
        assert.ok(!kinds.some((k) => good.blobs.some((b) => k.endsWith(b.digest))), 'the good image has no problem');
        const corrupt = report.problems.find((p) => p.kind === 'corrupt-blob');
        assert.equal(corrupt && 'actual' in corrupt ? corrupt.actual : '', digestOf(bytes));

        const repaired = await scrub(opened.storage, opened.index, { repair: true });
        assert.deepEqual(repaired.quarantined, [flippedLayer]);
        assert.equal(existsSync(file), false);
        assert.equal(existsSync(join(pier.dataDir, 'pier/quarantine/sha256', flippedLayer.slice(7))), true);
      } finally {
        await opened.close();
      }
    } finally {
      await pier.close();
    }
  });
});
