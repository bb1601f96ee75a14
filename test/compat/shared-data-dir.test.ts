/**
 * One data directory, two registries taking turns — the "drop-in, both ways" promise with a rollback:
 * Pier writes; Pier stops; the reference registry (Debian's `docker-registry`, CNCF Distribution 2.8) pushes
 * a new image, moves a tag and deletes manifests by digest and by tag (resolved to the digest, as clients
 * do: 2.8 has no tag DELETE); the reference stops; the restarted Pier must serve exactly the reference's
 * final state, and `pier gc --delete-untagged` afterwards must keep every blob of every tagged image. Then
 * both run at once: an image the reference pushes is served by Pier at once, and a manifest pushed to Pier
 * whose blobs went to the reference is accepted (adopt-on-miss).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { requireTools } from '../support/tools.ts';
import { asBody, buildImage, DOCKER_MANIFEST, pushBlobBySession, pushTaggedBySessions, type BuiltImage } from '../support/http-fixtures.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ACCEPT = `${DOCKER_MANIFEST}, application/vnd.oci.image.manifest.v1+json`;

async function deleteManifest(base: string, repo: string, digest: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  assert.equal(res.status, 202, `delete ${repo}@${digest}: ${await res.text()}`);
}

async function tagDigest(base: string, repo: string, tag: string): Promise<string | number> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  return res.status === 200 ? res.headers.get('docker-content-digest')! : res.status;
}

async function json(base: string, path: string): Promise<unknown> {
  const res = await fetch(`${base}${path}`);
  return res.status === 200 ? res.json() : res.status;
}

/** Everything a client sees: catalog, then per repository its sorted tags and what each points to. */
async function visibleState(base: string): Promise<Record<string, unknown>> {
  const catalog = ((await json(base, '/v2/_catalog')) as { repositories: string[] }).repositories;
  const state: Record<string, unknown> = { catalog };
  for (const repo of catalog) {
    const listed = (await json(base, `/v2/${repo}/tags/list`)) as { tags: string[] | null } | number;
    const tags = typeof listed === 'number' ? [] : [...(listed.tags ?? [])].sort();
    state[repo] = Object.fromEntries(await Promise.all(tags.map(async (tag) => [tag, await tagDigest(base, repo, tag)])));
  }
  return state;
}

/** Pulls an image by tag and checks the manifest and every blob byte for byte. */
async function pullIdentical(base: string, repo: string, tag: string, image: BuiltImage): Promise<void> {
  const manifest = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: { Accept: ACCEPT } });
  assert.equal(manifest.status, 200, `${repo}:${tag}`);
  assert.deepEqual(Buffer.from(await manifest.arrayBuffer()), image.manifest);
  for (const blob of image.blobs) {
    const res: Response = await fetch(`${base}/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(res.status, 200, `${repo}:${tag} blob ${blob.digest}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), blob.data);
  }
}

function pierGc(dataDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'gc', '--data', dataDir, '--delete-untagged', '--grace', '0s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`pier gc exited ${code}: ${out}`))));
  });
}

describe('a data directory shared with the reference registry (docker-registry 2.8)', { timeout: 180_000 }, () => {
  let dataDir: string;
  let pier: PierProcess | undefined;
  let reference: RunningReference | undefined;
  before(() => {
    requireTools('docker-registry');
    dataDir = mkdtempSync(join(tmpdir(), 'pier-shared-'));
  });
  after(async () => {
    await pier?.kill();
    await reference?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const img = (layers: number): BuiltImage => buildImage({ mediaType: DOCKER_MANIFEST, layers: Array.from({ length: layers }, (_, i) => Buffer.from(`layer ${i} ${Math.random()}`.repeat(50))) });
  const a = img(2); // app:v1 on Pier; v1 is moved away by the reference: untagged, collected
  const b = img(1); // app:v2 on Pier, then also app:v1
  const c = img(1); // tools:keep on Pier, deleted by tag on the reference
  const d = img(1); // app:old on Pier, deleted by digest on the reference
  const e = img(3); // app:v3 and fresh:latest, pushed by the reference only
  const f = img(1); // app:live, pushed by the reference while Pier runs
  const g = img(1); // tools:second on Pier, untouched

  it('Pier serves the reference\'s final state after a rollback and back, and GC keeps every tagged image', async () => {
    pier = await startPierProcess(dataDir);
    await pushTaggedBySessions(pier.url, 'app', 'v1', a);
    await pushTaggedBySessions(pier.url, 'app', 'v2', b);
    await pushTaggedBySessions(pier.url, 'app', 'old', d);
    await pushTaggedBySessions(pier.url, 'tools', 'keep', c);
    await pushTaggedBySessions(pier.url, 'tools', 'second', g);
    assert.equal(await pier.stop(), 0);
    pier = undefined;
    const pierStopped = Date.now();

    reference = await startReferenceRegistry({ dataDir });
    await pushTaggedBySessions(reference.url, 'app', 'v3', e);
    await pushTaggedBySessions(reference.url, 'fresh', 'latest', e);
    await pushTaggedBySessions(reference.url, 'app', 'v1', b); // re-tag: v1 moves from a to b
    await deleteManifest(reference.url, 'app', d.digest);
    await deleteManifest(reference.url, 'tools', String(await tagDigest(reference.url, 'tools', 'keep')));
    const expected = await visibleState(reference.url);
    await reference.close();
    reference = undefined;

    // The start-up check leaves index rows of the last few seconds alone (another Pier process may be
    // mid-push); a real rollback takes longer than that, a fast test machine might not.
    await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (Date.now() - pierStopped))));
    pier = await startPierProcess(dataDir);
    assert.deepEqual(await visibleState(pier.url), expected, 'Pier serves what the reference left: catalog, tags, digests');
    assert.equal((expected.app as Record<string, string>).v1, b.digest);
    for (const [repo, digest] of [['app', d.digest], ['tools', c.digest]] as const) {
      const res: Response = await fetch(`${pier.url}/v2/${repo}/manifests/${digest}`, { headers: { Accept: ACCEPT } });
      assert.equal(res.status, 404, `${repo}@${digest} was deleted by the reference`);
    }
    await pier.stop();
    pier = undefined;

    const gc = await pierGc(dataDir);
    assert.match(gc, /gc complete/);
    pier = await startPierProcess(dataDir);
    for (const [repo, tag, image] of [['app', 'v1', b], ['app', 'v2', b], ['app', 'v3', e], ['fresh', 'latest', e], ['tools', 'second', g]] as const) {
      await pullIdentical(pier.url, repo, tag, image);
    }
    assert.equal((await fetch(`${pier.url}/v2/app/manifests/${a.digest}`, { headers: { Accept: ACCEPT } })).status, 404, 'the untagged manifest was collected');

    // Both at once: what the reference pushes is served by the running Pier straight away.
    reference = await startReferenceRegistry({ dataDir });
    await pushTaggedBySessions(reference.url, 'app', 'live', f);
    await pushTaggedBySessions(reference.url, 'later', 'one', f);
    await pullIdentical(pier.url, 'app', 'live', f);
    await pullIdentical(pier.url, 'later', 'one', f);
    const byDigest = await fetch(`${pier.url}/v2/later/manifests/${f.digest}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
    assert.equal(byDigest.status, 200);
    // A push split between the two (a load balancer in front of both): blobs to the reference, manifest to Pier.
    const split = img(2);
    for (const blob of split.blobs) await pushBlobBySession(reference.url, 'split/app', blob.data);
    const put = await fetch(`${pier.url}/v2/split/app/manifests/v1`, { method: 'PUT', headers: { 'Content-Type': split.mediaType }, body: asBody(split.manifest) });
    assert.equal(put.status, 201, await put.text());
    await pullIdentical(reference.url, 'split/app', 'v1', split);
  });
});
