/**
 * Concurrent first pushes of one immutable tag: exactly one wins, every other gets DENIED, and the tag
 * points at the winner (the check is part of the index transaction that moves the tag).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPier, type RunningPier } from '../support/pier.ts';
import { buildImage, pushBlob, putManifest } from '../support/http-fixtures.ts';

describe('immutable tags under concurrent first pushes', () => {
  let pier: RunningPier;
  before(async () => {
    pier = await startPier({ immutableTags: [{ repository: 'race/**', tag: 'v*' }] });
  });
  after(() => pier.close());

  it('exactly one of ten concurrent first pushes of race/app:v1 succeeds', async () => {
    const images = Array.from({ length: 10 }, () => buildImage());
    for (const image of images) for (const blob of image.blobs) await pushBlob(pier.url, 'race/app', blob.data);
    const statuses = await Promise.all(images.map(async (image) => (await putManifest(pier.url, 'race/app', 'v1', image.manifest, image.mediaType)).status));
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses.join(',')}`);
    assert.ok(statuses.every((s) => s === 201 || s === 403), `statuses: ${statuses.join(',')}`);
    const winner = images[statuses.indexOf(201)]!;
    const res = await fetch(`${pier.url}/v2/race/app/manifests/v1`, { method: 'HEAD', headers: { Accept: winner.mediaType } });
    assert.equal(res.headers.get('docker-content-digest'), winner.digest);
  });
});
