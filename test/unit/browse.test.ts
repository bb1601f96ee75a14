/**
 * The browse read model's pure parts: search terms, matching, sorting and paging; and what image content
 * yields when it is well-formed, an index, malformed or missing (never an error).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseTerms, searchRepositories } from '../../src/browse/repository-search.ts';
import { imageFactsOf, readManifestContent } from '../../src/browse/image-content.ts';
import { MemoryDriver } from '../../src/storage/memory/memory-driver.ts';
import { DriverRegistryStorage } from '../../src/storage/registry-storage.ts';
import { parseDigest } from '../../src/registry/model/digest.ts';
import type { RepositorySummary, SearchableMetadata } from '../../src/browse/browse-index.ts';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('repository search', () => {
  const repo = (name: string, tagCount: number, sizeBytes: number, pushed: number): RepositorySummary => ({ name, tagCount, sizeBytes, lastPushAt: new Date(pushed) });
  const all = [repo('team/api', 3, 500, 3000), repo('team/web', 1, 900, 1000), repo('tools/lint', 2, 100, 2000), repo('empty', 0, 0, 0)];
  all[3]!.lastPushAt = undefined;
  const meta = new Map<string, SearchableMetadata>([
    ['team/api', { labels: [['org.opencontainers.image.title', 'API server']], annotations: [['org.example.owner', 'Blue Team']] }],
    ['tools/lint', { labels: [['tier', 'free']], annotations: [] }],
  ]);
  const names = (q: string, sort: 'name' | 'lastPush' | 'size' | 'tags' = 'name', order: 'asc' | 'desc' = 'asc', offset = 0, limit = 50): string[] =>
    searchRepositories(all, meta, { q, sort, order, offset, limit }).items.map((r) => r.name);

  it('parses words, label: and annotation: terms', () => {
    assert.deepEqual(parseTerms('  Team  label:tier=Free annotation:org.x label:a=b=c '), [
      { kind: 'text', value: 'team' },
      { kind: 'label', key: 'tier', value: 'free' },
      { kind: 'annotation', key: 'org.x' },
      { kind: 'label', key: 'a', value: 'b=c' },
    ]);
    assert.deepEqual(parseTerms(''), []);
    assert.deepEqual(parseTerms('label:'), [{ kind: 'text', value: 'label:' }], 'a term without a key is plain text');
  });

  it('matches every word against names, label and annotation values; keys exactly', () => {
    assert.deepEqual(names('team'), ['team/api', 'team/web']);
    assert.deepEqual(names('server'), ['team/api'], 'a label value');
    assert.deepEqual(names('blue'), ['team/api'], 'an annotation value, case-insensitively');
    assert.deepEqual(names('label:tier=FREE'), ['tools/lint']);
    assert.deepEqual(names('label:tier=fre'), [], 'label values match whole');
    assert.deepEqual(names('label:TIER'), [], 'keys are case-sensitive');
    assert.deepEqual(names('annotation:org.example.owner'), ['team/api']);
    assert.deepEqual(names('team label:tier'), [], 'all words must match');
  });

  it('sorts (ties by name) and pages', () => {
    assert.deepEqual(names('', 'lastPush', 'desc'), ['team/api', 'tools/lint', 'team/web', 'empty']);
    assert.deepEqual(names('', 'size', 'desc'), ['team/web', 'team/api', 'tools/lint', 'empty']);
    assert.deepEqual(names('', 'tags', 'asc'), ['empty', 'team/web', 'tools/lint', 'team/api']);
    assert.deepEqual(names('', 'name', 'desc'), ['tools/lint', 'team/web', 'team/api', 'empty']);
    const page = searchRepositories(all, meta, { q: '', sort: 'name', order: 'asc', offset: 1, limit: 2 });
    assert.deepEqual([page.total, page.items.map((r) => r.name)], [4, ['team/api', 'team/web']]);
    assert.deepEqual(names('', 'name', 'asc', 10), []);
  });
});

describe('image content', () => {
  const storage = new DriverRegistryStorage(new MemoryDriver());
  const put = async (value: unknown): Promise<string> => {
    const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    const digest = digestOf(bytes);
    await storage.putBlob(parseDigest(digest), bytes);
    return digest;
  };

  it('reads an image: config fields, labels, layers, platform', async () => {
    const config = await put({ os: 'linux', architecture: 'arm64', variant: 'v8', created: '2026-01-01T00:00:00Z', config: { Labels: { a: 'b', n: 1 }, Cmd: ['x'], Env: 'not-a-list', ExposedPorts: { '80/tcp': {} } } });
    const manifest = await put({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 10 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: config, size: 5 }, { broken: true }],
    });
    const content = await readManifestContent(storage, manifest);
    assert.equal(content?.kind, 'image');
    assert.deepEqual(content?.config?.labels, { a: 'b' }, 'only string labels');
    assert.equal(content?.config?.env, undefined, 'a malformed field is left out');
    assert.deepEqual(content?.config?.exposedPorts, ['80/tcp']);
    assert.equal(content?.layers.length, 1, 'a malformed descriptor is skipped');
    assert.deepEqual(await imageFactsOf(storage, manifest), { platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }], labels: { a: 'b' }, created: '2026-01-01T00:00:00Z' });
  });

  it('reads an index’s platforms, and yields empty facts for malformed or missing content', async () => {
    const index = await put({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(Buffer.from('a')), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(Buffer.from('b')), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
      ],
    });
    assert.deepEqual((await imageFactsOf(storage, index)).platforms, [{ os: 'linux', architecture: 'amd64' }], 'attestation entries (unknown/unknown) are no platform');
    assert.deepEqual(await imageFactsOf(storage, await put('{not json')), { platforms: [], labels: {} });
    assert.deepEqual(await imageFactsOf(storage, await put('[1,2]')), { platforms: [], labels: {} });
    assert.deepEqual(await imageFactsOf(storage, digestOf(Buffer.from('absent'))), { platforms: [], labels: {} });
    assert.equal(await readManifestContent(storage, 'sha256:nothex'), undefined);
  });
});
