/**
 * Interchangeable replicas: three `pier serve` processes behind nginx (round-robin) on loopback, sharing one
 * PostgreSQL index and one storage. Real clients push and pull through the balancer; a chunked upload
 * whose requests land on different replicas completes; scheduled garbage collection (on whichever replica
 * holds the job lease) runs while pushes go on and loses nothing; a replica killed mid-burst loses nothing
 * it acknowledged, the others keep serving, and an upload whose chunk was streaming into it when it died is
 * taken over by another replica (its write lock died with its database session).
 *
 * The shared storage is S3: OpenStack Swift's s3api (a private one for this file), as replicas on object
 * storage run in production. Each replica runs a single process (`--workers 1`): three pools of one worker
 * per core would oversubscribe a small CI machine without testing anything more.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type RunningPostgres } from '../support/postgres.ts';
import { startNginx, type RunningNginx } from '../support/nginx.ts';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { asBody, buildImage, digestOf, pushBuilt, type BuiltImage } from '../support/http-fixtures.ts';
import { requireTools } from '../support/tools.ts';
import { startSwiftS3, withoutAwsVariables, type SwiftS3 } from '../support/swift-s3.ts';

/** The S3 bucket the replicas share: its config.yml section, and whether a blob's bytes are in it (to see GC work). */
interface SharedStorage {
  configYaml: string;
  blobExists(digest: string): Promise<boolean>;
  cleanup(): Promise<void>;
}

const ROOT = 'registry';

async function s3Storage(): Promise<SharedStorage> {
  const swift: SwiftS3 = await startSwiftS3();
  try {
    const bucket = await swift.createBucket('pier-replicas');
    const { S3Client, HeadObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: swift.endpoint, region: swift.region, forcePathStyle: true, credentials: { accessKeyId: swift.accessKey, secretAccessKey: swift.secretKey } });
    return {
      configYaml: `storage:
  s3:
    region: ${swift.region}
    bucket: ${bucket}
    regionendpoint: ${swift.endpoint}
    accesskey: ${swift.accessKey}
    secretkey: ${swift.secretKey}
    secure: false
    rootdirectory: /${ROOT}
  delete:
    enabled: true
`,
      async blobExists(digest) {
        const hex = digest.slice('sha256:'.length);
        const Key = `${ROOT}/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
        return client.send(new HeadObjectCommand({ Bucket: bucket, Key })).then(
          () => true,
          (error: { $metadata?: { httpStatusCode?: number } }) => {
            if (error.$metadata?.httpStatusCode === 404) return false;
            throw error;
          },
        );
      },
      async cleanup() {
        client.destroy();
        await swift.stop();
      },
    };
  } catch (error) {
    await swift.stop();
    throw error;
  }
}

const GC_INTERVAL_S = 2;
const GC_GRACE_S = 10;

describe('three Pier replicas behind nginx, sharing PostgreSQL and S3 (Swift s3api)', { timeout: 240_000 }, () => {
  let postgres: RunningPostgres;
  let storage: SharedStorage;
  let scratch: string;
  let replicas: PierProcess[] = [];
  let nginx: RunningNginx;
  let env: ClientEnv;
  let small: SmallImage;
  let garbage: BuiltImage;
  let garbageDeletedAt = 0;
  let replicasStartedAt = 0;

  before(async () => {
    requireTools('skopeo', 'podman', 'buildah');
    scratch = mkdtempSync(join(tmpdir(), 'pier-replicas-'));
    // each assigned as soon as it is up, so after() stops it even if another fails to start
    await Promise.all([startPostgres().then((p) => (postgres = p)), createClientEnv('pier-replicas').then((e) => (env = e)), s3Storage().then((s) => (storage = s))]);
    const database = await postgres.createDatabase('replicas');
    const passwordFile = join(scratch, 'pg-password');
    writeFileSync(passwordFile, `${postgres.password}\n`, { mode: 0o600 });
    const config = join(scratch, 'config.yml');
    writeFileSync(
      config,
      `version: 0.1
${storage.configYaml}index:
  backend: postgres
  postgres:
    host: ${postgres.host}
    port: ${postgres.port}
    database: ${database}
    user: ${postgres.user}
    passwordfile: ${passwordFile}
    poolsize: 4
lifecycle:
  gc:
    enabled: true
    interval: ${GC_INTERVAL_S}s
    grace: ${GC_GRACE_S}s
`,
    );
    // All three start at once (migrations race), each in its own working directory, with no AWS_* variable from outside.
    replicasStartedAt = Date.now();
    const replicaEnv = withoutAwsVariables();
    const startReplica = (i: number) => {
      const cwd = join(scratch, `replica-${i}`);
      mkdirSync(cwd);
      return startPierProcess(undefined, ['--config', config, '--log-level', 'info', '--workers', '1'], { cwd, env: replicaEnv });
    };
    [replicas, small] = await Promise.all([
      Promise.all([0, 1, 2].map(startReplica)),
      buildSmallImage(env),
    ]);
    nginx = await startNginx(replicas.map((r) => new URL(r.url).host));
    // Garbage for the collector: pushed, then deleted, so it is unreachable once the grace period has passed.
    garbage = buildImage({ layers: [randomBytes(4096)] });
    assert.equal((await pushBuilt(nginx.url, 'gc/garbage', garbage, 'doomed')).status, 201);
    const del = await fetch(`${nginx.url}/v2/gc/garbage/manifests/${garbage.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    garbageDeletedAt = Date.now();
  }, { timeout: 180_000 });

  after(async () => {
    await nginx?.stop();
    for (const r of replicas) await r.stop().catch(() => undefined);
    await postgres?.stop();
    await env?.close();
    await storage?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const live = () => replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);

  /** Checks, on every live replica directly, that the image is whole: manifest by tag, every blob's bytes. */
  async function assertWhole(name: string, tag: string, image: BuiltImage, on: PierProcess[] = live()): Promise<void> {
    for (const replica of on) {
      const res = await fetch(`${replica.url}/v2/${name}/manifests/${tag}`, { headers: { Accept: image.mediaType } });
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200, `${name}:${tag} on ${replica.url}`);
      assert.equal(digestOf(body), image.digest);
      for (const blob of image.blobs) {
        const b = await fetch(`${replica.url}/v2/${name}/blobs/${blob.digest}`);
        assert.equal(b.status, 200, `${name} blob ${blob.digest} on ${replica.url}`);
        assert.equal(digestOf(Buffer.from(await b.arrayBuffer())), blob.digest);
      }
    }
  }

  it('skopeo and podman push and pull through the balancer', async () => {
    const digestFile = join(env.dir, 'work', 'pushed.digest');
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${small.layoutDir}:small`, `docker://${nginx.host}/apps/small:1`]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    assert.equal(pushed, small.digest);
    // every replica answers for it, whichever one took the push
    for (const replica of replicas) {
      const res = await fetch(`${replica.url}/v2/apps/small/manifests/1`, { method: 'HEAD', headers: { Accept: small.descriptor.mediaType } });
      assert.equal(res.headers.get('docker-content-digest'), small.digest, replica.url);
    }
    const store = await env.freshStore('pull');
    await env.podman([...store, 'pull', '--quiet', '--tls-verify=false', `${nginx.host}/apps/small:1`]);
    await env.podman([...store, 'push', '--quiet', '--tls-verify=false', '--digestfile', `${digestFile}.podman`, `${nginx.host}/apps/small:1`, `${nginx.host}/apps/small-again:1`]);
    const again = (await readFile(`${digestFile}.podman`, 'utf8')).trim();
    const out = join(env.dir, 'work', 'pulled');
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${nginx.host}/apps/small-again:1`, `dir:${out}`]);
    assert.equal(createHash('sha256').update(await readFile(join(out, 'manifest.json'))).digest('hex'), again.slice('sha256:'.length));
    const tags = await (await fetch(`${nginx.url}/v2/apps/small-again/tags/list`)).json();
    assert.deepEqual(tags, { name: 'apps/small-again', tags: ['1'] });
    for (const replica of replicas) {
      assert.match(replica.output(), /"backend":"postgres"/, 'the replica says which index it uses');
      assert.ok(!replica.output().includes(postgres.password), 'the database password never reaches the logs');
    }
  });

  it('a chunked upload whose requests land on different replicas completes with the right digest', async () => {
    const data = randomBytes(3 * 256 * 1024 + 17);
    const digest = digestOf(data);
    const chunks = [data.subarray(0, 256 * 1024), data.subarray(256 * 1024, 2 * 256 * 1024), data.subarray(2 * 256 * 1024)];
    const upstreams: string[] = [];
    const started = await fetch(`${nginx.url}/v2/chunked/blob/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    upstreams.push(started.headers.get('x-pier-upstream')!);
    let location = new URL(started.headers.get('location')!, nginx.url).toString();
    let offset = 0;
    for (const chunk of chunks.slice(0, 2)) {
      const res = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}`, 'Content-Length': String(chunk.length) },
        body: asBody(chunk),
      });
      assert.equal(res.status, 202, await res.text());
      upstreams.push(res.headers.get('x-pier-upstream')!);
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      location = new URL(res.headers.get('location')!, nginx.url).toString();
    }
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const done = await fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: asBody(chunks[2]!) });
    assert.equal(done.status, 201, await done.text());
    upstreams.push(done.headers.get('x-pier-upstream')!);
    assert.ok(new Set(upstreams).size >= 2, `the requests went to more than one replica: ${upstreams.join(' ')}`);
    for (const replica of replicas) {
      const res = await fetch(`${replica.url}/v2/chunked/blob/blobs/${digest}`);
      assert.equal(res.status, 200, replica.url);
      assert.equal(digestOf(Buffer.from(await res.arrayBuffer())), digest);
    }
  });

  it('garbage collection on one replica while the others take pushes loses nothing', async (t) => {
    // wait until the garbage is past the grace period, pushing all along
    const pushed: Array<{ name: string; tag: string; image: BuiltImage }> = [];
    const collected = async () => (await Promise.all(garbage.blobs.map((b) => storage.blobExists(b.digest)))).every((exists) => !exists);
    let n = 0;
    const deadline = garbageDeletedAt + (GC_GRACE_S + 6 * GC_INTERVAL_S) * 1000 + 30_000;
    let collectedAt = 0;
    while (!(await collected()) || Date.now() < garbageDeletedAt + (GC_GRACE_S + 2 * GC_INTERVAL_S) * 1000) {
      if (collectedAt === 0 && (await collected())) collectedAt = Date.now();
      assert.ok(Date.now() < deadline, 'the garbage was never collected');
      const batch = Array.from({ length: 3 }, () => ({ name: `gc/live-${n % 4}`, tag: `t${n++}`, image: buildImage({ layers: [randomBytes(2048), randomBytes(1024)] }) }));
      await Promise.all(
        batch.map(async (p) => {
          const res = await pushBuilt(nginx.url, p.name, p.image, p.tag);
          assert.equal(res.status, 201, `push ${p.name}:${p.tag}: ${await res.text()}`);
          pushed.push(p);
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    if (collectedAt === 0) collectedAt = Date.now();
    // each image checked on one replica (they share everything; the first test checked all three)
    for (const [i, p] of pushed.entries()) await assertWhole(p.name, p.tag, p.image, [replicas[i % replicas.length]!]);
    // The collector ran on one replica at a time: runs never overlap, and there are about as many as intervals.
    const runs = replicas.flatMap((r, i) =>
      r.output().split('\n').filter((l) => l.includes('scheduled gc complete')).map((l) => {
        const entry = JSON.parse(l) as { time: number; durationMs: number; blobsDeleted: number };
        return { replica: i, end: entry.time, start: entry.time - entry.durationMs, deleted: entry.blobsDeleted };
      }),
    ).sort((a, b) => a.start - b.start);
    assert.ok(runs.length > 0, 'scheduled GC ran');
    t.diagnostic(`${pushed.length} pushes; GC runs (replica, start s, ms): ${runs.map((r) => `${r.replica}@${((r.start - replicasStartedAt) / 1000).toFixed(1)}/${r.end - r.start}ms/${r.deleted}`).join(' ')}; collected seen at ${((collectedAt - replicasStartedAt) / 1000).toFixed(1)}; garbage deleted at ${((garbageDeletedAt - replicasStartedAt) / 1000).toFixed(1)} s`);
    for (let i = 1; i < runs.length; i++) assert.ok(runs[i]!.start >= runs[i - 1]!.end - 5, `GC runs overlap: ${JSON.stringify(runs.slice(i - 1, i + 1))}`);
    const spanS = (Date.now() - replicasStartedAt) / 1000;
    assert.ok(runs.length <= spanS / GC_INTERVAL_S + 2, `${runs.length} runs in ${spanS.toFixed(0)} s: once per interval across replicas, not once per replica`);
    for (let i = 1; i < runs.length; i++) {
      assert.ok(runs[i]!.start - runs[i - 1]!.start >= GC_INTERVAL_S * 1000 * 0.75, `runs ${i - 1} and ${i} closer than an interval: ${JSON.stringify(runs.slice(i - 1, i + 1))}`);
    }
    const a = await fetch(`${nginx.url}/v2/gc/garbage/blobs/${garbage.blobs[0]!.digest}`);
    assert.equal(a.status, 404);
  });

  it('a replica killed mid-burst: nothing acknowledged is lost, the others keep serving', async (t) => {
    const acknowledged: Array<{ name: string; tag: string; image: BuiltImage }> = [];
    let n = 0;
    const victim = replicas[1]!;
    /** Pushes `count` images at once; returns how many were not acknowledged. */
    const burst = async (count: number): Promise<number> => {
      let failures = 0;
      await Promise.all(
        Array.from({ length: count }, async () => {
          const p = { name: `kill/app-${n % 3}`, tag: `t${n++}`, image: buildImage({ layers: [randomBytes(8192)] }) };
          try {
            const res = await pushBuilt(nginx.url, p.name, p.image, p.tag);
            if (res.status === 201) acknowledged.push(p);
            else failures += 1;
          } catch {
            failures += 1; // a request cut off when its replica died: not acknowledged, a client would retry
          }
        }),
      );
      return failures;
    };
    // An upload whose chunk is streaming into the victim when it dies: the victim holds the session's write
    // lock (a session lock in PostgreSQL), so another replica can take the session over only if the lock
    // died with the victim.
    const data = randomBytes(512 * 1024);
    const started = await fetch(`${victim.url}/v2/kill/resumed/blobs/uploads/`, { method: 'POST' });
    assert.equal(started.status, 202);
    const sessionPath = started.headers.get('location')!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new Uint8Array(data.subarray(0, 64 * 1024)));
        await held; // never sends the rest: the victim dies mid-chunk
        controller.close();
      },
    });
    const streaming = fetch(new URL(sessionPath, victim.url), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit).then(() => undefined, () => undefined);

    const during = burst(24);
    // kill it mid-burst: once a few pushes are through (and the chunk above is streaming into it)
    while (acknowledged.length < 3) await new Promise((r) => setTimeout(r, 10));
    await victim.kill();
    release();
    await streaming;
    const cutOff = await during;

    // the session continues on a surviving replica from whatever the victim had stored
    const survivor = replicas[0]!;
    const status = await fetch(new URL(sessionPath, survivor.url));
    assert.equal(status.status, 204);
    const range = status.headers.get('range');
    // `0-0` is how an empty session is reported (as the reference registry does)
    const stored = range && range !== '0-0' ? Number(range.split('-')[1]) + 1 : 0;
    const rest = data.subarray(stored);
    const patched = await fetch(new URL(sessionPath, survivor.url), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${stored}-${data.length - 1}`, 'Content-Length': String(rest.length) },
      body: asBody(rest),
    });
    assert.equal(patched.status, 202, `the dead replica's upload lock is free: ${await patched.text()}`);
    const done = new URL(patched.headers.get('location')!, survivor.url);
    done.searchParams.set('digest', digestOf(data));
    const put = await fetch(done, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    t.diagnostic(`the victim had stored ${stored} of ${data.length} bytes of the interrupted chunk`);
    const afterKill = await burst(9);
    assert.equal(afterKill, 0, 'after the kill every push succeeds: nginx routes around the dead replica');
    assert.ok(acknowledged.length >= 12, `${acknowledged.length} acknowledged, ${cutOff} cut off by the kill`);
    t.diagnostic(`${acknowledged.length} pushes acknowledged, ${cutOff} cut off by the kill`);
    for (const p of acknowledged) await assertWhole(p.name, p.tag, p.image);
    const catalog = (await (await fetch(`${nginx.url}/v2/_catalog`)).json()) as { repositories: string[] };
    for (const name of new Set(acknowledged.map((p) => p.name))) assert.ok(catalog.repositories.includes(name), name);
  });
});
