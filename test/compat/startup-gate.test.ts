/**
 * The start-up gate (index/storage-gate.ts): Pier listens before it has reconciled its index with storage,
 * so what the reference registry (Debian's `docker-registry`) wrote to the same data directory while Pier
 * was down must still be what every request sees right after the start. The pool's background pass is held
 * back here (PIER_STORAGE_PASS_DELAY_MS), so the answers before it are the gate's doing: a repository a
 * request touches is checked on demand by the worker that serves it, and the catalog waits for the pass.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { requireTools } from '../support/tools.ts';
import { buildImage, DOCKER_MANIFEST, pushTaggedBySessions, type BuiltImage } from '../support/http-fixtures.ts';

const ACCEPT = `${DOCKER_MANIFEST}, application/vnd.oci.image.manifest.v1+json`;
const PASS_DELAY_MS = 3_500;

/** One request on a connection of its own: a pool hands each new connection to the next worker. */
function get(url: string, method = 'GET'): Promise<{ status: number; digest: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { Accept: ACCEPT } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, digest: res.headers['docker-content-digest'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('start-up gate: what the reference wrote while Pier was down is served right after the start', { timeout: 120_000 }, () => {
  let dataDir: string;
  let pier: PierProcess | undefined;
  let reference: RunningReference | undefined;
  before(() => {
    requireTools('docker-registry');
    dataDir = mkdtempSync(join(tmpdir(), 'pier-gate-'));
  });
  after(async () => {
    await pier?.kill();
    await reference?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const img = (): BuiltImage => buildImage({ mediaType: DOCKER_MANIFEST, layers: [Buffer.from(`layer ${Math.random()}`.repeat(40))] });
  const a = img();
  const b = img();
  const c = img();

  it('a tag the reference moved (rewritten in place), moved back, and repositories it added, before the background pass; pool and single process', async () => {
    pier = await startPierProcess(dataDir, ['--workers', '2']);
    await pushTaggedBySessions(pier.url, 'app', 'v1', a);
    await pushTaggedBySessions(pier.url, 'app', 'v2', b);
    assert.equal(await pier.stop(), 0);
    pier = undefined;
    const pierStopped = Date.now();

    // The reference moves app:v1 to a manifest the repository already holds (only that tag's link file is
    // rewritten, in place) and pushes a repository of its own.
    reference = await startReferenceRegistry({ dataDir });
    await pushTaggedBySessions(reference.url, 'app', 'v1', b);
    await pushTaggedBySessions(reference.url, 'fresh', 'latest', c);
    await reference.close();
    reference = undefined;

    // Reconciliation leaves index rows of the last few seconds alone (another Pier process may be mid-push).
    await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (Date.now() - pierStopped))));
    pier = await startPierProcess(dataDir, ['--workers', '2', '--log-level', 'info'], { env: { ...process.env, PIER_STORAGE_PASS_DELAY_MS: String(PASS_DELAY_MS) } });
    const started = Date.now();

    // Both workers, each on new connections: the tag moved, and the repository's tag list and the new
    // repository's manifest as the reference left them.
    for (let i = 0; i < 4; i++) {
      const head = await get(`${pier.url}/v2/app/manifests/v1`, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.digest, b.digest, `app:v1 is where the reference moved it (request ${i + 1})`);
    }
    assert.deepEqual(JSON.parse((await get(`${pier.url}/v2/app/tags/list`)).body).tags.sort(), ['v1', 'v2']);
    assert.equal((await get(`${pier.url}/v2/fresh/manifests/latest`, 'HEAD')).digest, c.digest);
    assert.ok(Date.now() - started < PASS_DELAY_MS, 'these answers came before the background pass began');
    assert.match(pier.output(), /"repository":"app","outcome":"changed".*repository reconciled with storage/, 'a worker checked app on demand');

    // The catalog waits for the whole pass: it lists the reference's repository.
    const catalog = await get(`${pier.url}/v2/_catalog`);
    assert.equal(catalog.status, 200);
    assert.deepEqual(JSON.parse(catalog.body).repositories, ['app', 'fresh']);
    assert.ok(Date.now() - started >= PASS_DELAY_MS - 500, 'the catalog answered once the pass was done');
    assert.equal(await pier.stop(), 0);
    pier = undefined;
    const pierStoppedAgain = Date.now();

    // The reference moves app:v1 back to the manifest it pointed at before: only the link file's time and
    // size change (no directory does). The single-process server (--workers 1) runs the pass itself.
    reference = await startReferenceRegistry({ dataDir });
    await pushTaggedBySessions(reference.url, 'app', 'v1', a);
    await pushTaggedBySessions(reference.url, 'second', 'latest', a);
    await reference.close();
    reference = undefined;
    await new Promise((r) => setTimeout(r, Math.max(0, 6_000 - (Date.now() - pierStoppedAgain))));
    pier = await startPierProcess(dataDir, ['--workers', '1'], { env: { ...process.env, PIER_STORAGE_PASS_DELAY_MS: String(PASS_DELAY_MS) } });
    const restarted = Date.now();
    const head = await get(`${pier.url}/v2/app/manifests/v1`, 'HEAD');
    assert.equal(head.digest, a.digest, 'app:v1 is back where the reference moved it');
    assert.ok(Date.now() - restarted < PASS_DELAY_MS, 'before the background pass began');
    assert.deepEqual(JSON.parse((await get(`${pier.url}/v2/_catalog`)).body).repositories, ['app', 'fresh', 'second']);
  });
});
