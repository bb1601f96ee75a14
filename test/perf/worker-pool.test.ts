/**
 * `pier serve --workers 2`: two worker processes behind one listening socket and one supervisor. Every
 * request below goes over a fresh connection (the supervisor hands connections out round-robin), and the
 * worker that served it is read from Pier's own request log (pid by request id).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import { childPids, startPierProcess, type PierProcess } from '../support/pier-process.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  id: string;
}

describe('worker pool', () => {
  let dataDir: string;
  let pier: PierProcess;
  let port: number;

  /** One request on its own connection, with a request id to find it in the log. */
  function send(method: string, path: string, body?: Buffer, headers: Record<string, string | number> = {}, agent: Agent | false = false): Promise<Answer> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent, headers: { 'X-Request-ID': id, ...(body ? { 'Content-Length': body.length } : {}), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), id }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The pid of the worker that logged this request id (waits for the log line). */
  async function servedBy(id: string): Promise<number> {
    for (let i = 0; i < 100; i++) {
      for (const line of pier.output().split('\n')) {
        if (!line.includes(id)) continue;
        const entry = JSON.parse(line) as { requestId?: string; pid?: number };
        if (entry.requestId === id && entry.pid) return entry.pid;
      }
      await sleep(50);
    }
    throw new Error(`no log line for request ${id}`);
  }

  /** Worker processes of the pool (children running `serve`). */
  function workerPids(): number[] {
    return childPids(pier.child.pid!).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve');
      } catch {
        return false;
      }
    });
  }

  async function pushBlob(repo: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const res = await send('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, data);
    assert.equal(res.status, 201, res.body.toString());
    return digest;
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pier-workers-'));
    pier = await startPierProcess(dataDir, ['--workers', '2', '--log-level', 'info', '--drain-timeout', '20']);
    port = Number(new URL(pier.url).port);
    // The first worker answers first; wait until the second one serves too.
    const serving = new Set<number>();
    for (let i = 0; i < 200 && serving.size < 2; i++) {
      serving.add(await servedBy((await send('GET', '/v2/')).id));
      if (serving.size < 2) await sleep(100);
    }
    assert.equal(serving.size, 2, 'two workers serve');
  });

  after(async () => {
    if (pier.child.exitCode === null) await pier.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves an image pushed through one worker from the other', async () => {
    const layer = randomBytes(256 * 1024);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layerDigest = await pushBlob('pool/app', layer);
    const configDigest = await pushBlob('pool/app', config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
      }),
    );
    const put = await send('PUT', '/v2/pool/app/manifests/v1', manifest, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(put.status, 201);
    const pusher = await servedBy(put.id);

    const pullers = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const got = await send('GET', '/v2/pool/app/manifests/v1', undefined, { Accept: 'application/vnd.oci.image.manifest.v1+json' });
      assert.equal(got.status, 200);
      assert.deepEqual(got.body, manifest);
      const blob = await send('GET', `/v2/pool/app/blobs/${layerDigest}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(blob.body), layerDigest);
      pullers.add(await servedBy(got.id));
      pullers.add(await servedBy(blob.id));
    }
    assert.ok([...pullers].some((pid) => pid !== pusher), `pulled through another worker than the pusher ${pusher}: ${[...pullers].join(', ')}`);
  });

  it('completes an upload whose chunks land on different workers', async () => {
    const data = randomBytes(4 * 256 * 1024);
    const start = await send('POST', '/v2/pool/chunked/blobs/uploads/');
    assert.equal(start.status, 202);
    let location = start.headers.location!;
    const served = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const chunk = data.subarray(i * 256 * 1024, (i + 1) * 256 * 1024);
      const first = i * chunk.length;
      const res = await send('PATCH', location, chunk, { 'Content-Type': 'application/octet-stream', 'Content-Range': `${first}-${first + chunk.length - 1}` });
      assert.equal(res.status, 202, res.body.toString());
      location = res.headers.location!;
      served.add(await servedBy(res.id));
    }
    assert.equal(served.size, 2, 'the chunks went to both workers');
    const digest = sha256(data);
    const done = await send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${digest}`);
    assert.equal(done.status, 201, done.body.toString());
    const blob = await send('GET', `/v2/pool/chunked/blobs/${digest}`);
    assert.equal(sha256(blob.body), digest);
  });

  it('answers /metrics for the whole pool: the totals match the requests made', async () => {
    const count = 12;
    const served = new Set<number>();
    for (let i = 0; i < count; i++) {
      const res = await send('GET', '/v2/pool/metrics-probe/tags/list');
      assert.equal(res.status, 404);
      served.add(await servedBy(res.id));
    }
    assert.equal(served.size, 2, 'both workers served the probes');
    for (let scrape = 0; scrape < 2; scrape++) {
      const metrics = await send('GET', '/metrics');
      assert.equal(metrics.status, 200);
      const line = metrics.body
        .toString()
        .split('\n')
        .find((l) => l.startsWith('pier_http_requests_total{') && l.includes('method="GET"') && l.includes('status="404"') && l.includes('route="tags"'));
      assert.ok(line, `a pier_http_requests_total line for the probes in:\n${metrics.body.toString().slice(0, 2000)}`);
      assert.equal(Number(line.split(' ').pop()), count, line);
      assert.match(metrics.body.toString(), /^pier_serving_processes 2$/m, 'both workers answered the collection');
    }
  });

  it('keeps serving when a worker is killed mid-request, and replaces it', async () => {
    // Find the worker behind one keep-alive connection, then start an upload on that connection.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const hello = await send('GET', '/v2/', undefined, {}, agent);
    const victim = await servedBy(hello.id);
    const session = await send('POST', '/v2/pool/killed/blobs/uploads/', undefined, {}, agent);
    assert.equal(session.status, 202);
    let req!: ClientRequest;
    const outcome = new Promise<string>((resolve) => {
      req = request({ host: '127.0.0.1', port, method: 'PATCH', path: session.headers.location!, agent, headers: { 'Transfer-Encoding': 'chunked' } }, (res) => resolve(`answered ${res.statusCode}`));
      req.on('error', (error: NodeJS.ErrnoException) => resolve(`failed ${error.code ?? error.message}`));
    });
    req.write(randomBytes(64 * 1024));
    await sleep(300);
    const survivor = workerPids().find((pid) => pid !== victim)!;
    assert.ok(survivor, 'another worker runs');
    process.kill(victim, 'SIGKILL');
    assert.match(await outcome, /^failed/, 'the request in flight on the killed worker fails');
    agent.destroy();
    await sleep(300);

    // The other worker goes on serving every new connection meanwhile.
    for (let i = 0; i < 6; i++) assert.equal((await send('GET', '/v2/')).status, 200);
    let replaced: number[] = [];
    for (let i = 0; i < 150; i++) {
      replaced = workerPids();
      if (replaced.length === 2 && !replaced.includes(victim)) break;
      await sleep(100);
    }
    assert.equal(replaced.length, 2, `two workers again: ${replaced.join(', ')}`);
    // A scrape while the replacement is still starting answers at once for the workers that serve.
    const scrapeStarted = Date.now();
    const scrape = await send('GET', '/metrics');
    assert.equal(scrape.status, 200);
    assert.ok(Date.now() - scrapeStarted < 2_500, `the scrape took ${Date.now() - scrapeStarted} ms`);
    assert.ok(!replaced.includes(victim) && replaced.includes(survivor));
    const newcomer = replaced.find((pid) => pid !== survivor)!;
    const served = new Set<number>();
    for (let i = 0; i < 100 && !served.has(newcomer); i++) {
      const res = await send('GET', '/v2/');
      assert.equal(res.status, 200);
      served.add(await servedBy(res.id));
      if (!served.has(newcomer)) await sleep(100);
    }
    assert.ok(served.has(newcomer), 'the replacement serves requests');
  });

  it('drains every worker on SIGTERM: requests in flight finish, then everything exits', async () => {
    const workers = workerPids();
    // One upload in flight on each worker (two connections, handed out round-robin).
    const uploads = await Promise.all(
      [0, 1].map(async () => {
        const session = await send('POST', '/v2/pool/drain/blobs/uploads/');
        const agent = new Agent({ keepAlive: false });
        const data = randomBytes(128 * 1024);
        let req!: ClientRequest;
        const answered = new Promise<IncomingMessage>((resolve, reject) => {
          req = request({ host: '127.0.0.1', port, method: 'PATCH', path: session.headers.location!, agent, headers: { 'Content-Length': data.length } }, resolve);
          req.on('error', reject);
        });
        req.write(data.subarray(0, 1024));
        return { req, data, answered };
      }),
    );
    await sleep(300);
    const exited = new Promise<number | null>((resolve) => pier.child.once('exit', (code) => resolve(code)));
    pier.child.kill('SIGTERM');
    await sleep(500);
    // New connections are refused once the workers stopped listening...
    await assert.rejects(send('GET', '/v2/'), /ECONNREFUSED|ECONNRESET/);
    // ...while the uploads in flight still complete.
    for (const upload of uploads) upload.req.end(upload.data.subarray(1024));
    for (const upload of uploads) assert.equal((await upload.answered).statusCode, 202);
    assert.equal(await exited, 0);
    for (const pid of workers) assert.throws(() => process.kill(pid, 0), 'worker exited');
  });
});
