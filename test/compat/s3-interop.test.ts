/**
 * Pier on S3 (OpenStack Swift's s3api), as separate `pier serve config.yml` processes:
 * (a) a bucket written by the reference registry (Debian's docker-registry, its s3-aws driver) is served by
 *     Pier with the same digests, blob downloads redirected to presigned URLs as the reference does;
 * (b) a bucket written by Pier is served by the reference;
 * (c) an upload session started on one Pier process is continued and finished on another (each with its own
 *     local index: the session lives in the bucket).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { freePort } from '../support/pier-process.ts';
import { startReferenceRegistry } from '../support/reference-registry.ts';
import { startSwiftS3, withoutAwsVariables, type SwiftS3 } from '../support/swift-s3.ts';
import { requireTools } from '../support/tools.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** tsx by absolute URL: each Pier process runs in its own working directory. */
const TSX = import.meta.resolve('tsx');
const BUCKET = 'pier-interop';
const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface PierOnS3 {
  url: string;
  host: string;
  stop(): Promise<void>;
}

describe('S3 buckets shared with the reference registry, and uploads across Pier processes', { timeout: 300_000 }, () => {
  let swift: SwiftS3;
  let env: ClientEnv;
  let scratch: string;
  const children: ChildProcess[] = [];

  before(async () => {
    requireTools('skopeo', 'docker-registry');
    for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
    scratch = mkdtempSync(join(tmpdir(), 'pier-s3-interop-'));
    [swift, env] = await Promise.all([startSwiftS3(), createClientEnv('pier-s3-interop')]);
    await swift.createBucket(BUCKET);
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    await swift?.stop();
    await env?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  const s3Keys = (root: string): string[] => [
    '    region: us-east-1',
    `    bucket: ${BUCKET}`,
    `    regionendpoint: ${swift.endpoint}`,
    `    accesskey: ${swift.accessKey}`,
    `    secretkey: ${swift.secretKey}`,
    '    secure: false',
    `    rootdirectory: ${root}`,
  ];

  /** `pier serve config.yml` in its own working directory (so its index is ./data/pier/index.db there). */
  async function startPier(name: string, root: string, extra: string[] = []): Promise<PierOnS3> {
    const cwd = join(scratch, name);
    mkdirSync(cwd, { recursive: true });
    const port = await freePort();
    const config = ['version: 0.1', 'log:', '  level: warn', 'storage:', '  s3:', ...s3Keys(root), '    multipartcopythresholdsize: 5242880', ...extra, '  delete:', '    enabled: true', 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n');
    writeFileSync(join(cwd, 'config.yml'), config);
    const child = spawn(process.execPath, ['--no-warnings', '--import', TSX, CLI, 'serve', 'config.yml'], { cwd, env: withoutAwsVariables(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`pier exited (${child.exitCode}): ${output}`);
      const ok = await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`pier did not start: ${output}`);
      await sleep(100);
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      url,
      host: `127.0.0.1:${port}`,
      async stop() {
        if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
        await exited;
      },
    };
  }

  /** An OCI layout with one image: a config, a 12 MB layer (multipart on S3) and a small one. */
  function writeLayout(name: string): string {
    const dir = join(scratch, name);
    const blobs = join(dir, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    const put = (data: Buffer | string): { digest: string; size: number } => {
      const buffer = Buffer.from(data);
      const digest = sha256(buffer);
      writeFileSync(join(blobs, digest.slice(7)), buffer);
      return { digest, size: buffer.length };
    };
    const layers = [randomBytes(12 * 1024 * 1024 + 17), randomBytes(3000)].map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...put(b) }));
    const config = put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: {} }));
    const manifest = put(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers }));
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
    return dir;
  }

  async function push(layout: string, host: string, ref: string): Promise<string> {
    const digestFile = join(scratch, `digest-${randomBytes(4).toString('hex')}`);
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile, `oci:${layout}:v1`, `docker://${host}/${ref}`], { timeoutMs: 120_000 });
    return readFileSync(digestFile, 'utf8').trim();
  }

  /** Pulls into a fresh OCI layout (skopeo checks every blob's digest) and returns the manifest's digest. */
  async function pull(host: string, ref: string): Promise<string> {
    const dest = join(scratch, `pulled-${randomBytes(4).toString('hex')}`);
    const digestFile = `${dest}.digest`;
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${host}/${ref}`, `oci:${dest}:v1`], { timeoutMs: 120_000 });
    return readFileSync(digestFile, 'utf8').trim();
  }

  it('serves a bucket the reference registry wrote, with the same digests (blob downloads redirected to the store)', async () => {
    const layout = writeLayout('layout-ref');
    const reference = await startReferenceRegistry({ dataDir: join(scratch, 'unused'), storageDriverYaml: ['  s3:', ...s3Keys('/from-reference')] });
    let pushed: string;
    try {
      pushed = await push(layout, reference.host, 'interop/app:v1');
    } finally {
      await reference.close();
    }
    const pier = await startPier('pier-reads-reference', '/from-reference');
    try {
      assert.equal(await pull(pier.host, 'interop/app:v1'), pushed);
      const catalog = (await (await fetch(`${pier.url}/v2/_catalog`)).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['interop/app']);
      // skopeo compresses the layers on push, so the manifest to read is the registry's, not the layout's.
      const manifestResponse = await fetch(`${pier.url}/v2/interop/app/manifests/${pushed}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
      });
      const manifest = (await manifestResponse.json()) as { layers: Array<{ digest: string }> };
      const blob = await fetch(`${pier.url}/v2/interop/app/blobs/${manifest.layers[1]!.digest}`, { redirect: 'manual' });
      assert.equal(blob.status, 307, 'the reference redirects blob downloads on S3 by default, and so does Pier');
      assert.match(blob.headers.get('location') ?? '', new RegExp(`^${swift.endpoint}/${BUCKET}/from-reference/docker/registry/v2/blobs/sha256/`));
    } finally {
      await pier.stop();
    }
  });

  it('writes a bucket the reference registry serves', async () => {
    const layout = writeLayout('layout-pier');
    const pier = await startPier('pier-writes', '/from-pier');
    let pushed: string;
    try {
      pushed = await push(layout, pier.host, 'interop/written-by-pier:v1');
    } finally {
      await pier.stop();
    }
    const reference = await startReferenceRegistry({ dataDir: join(scratch, 'unused'), storageDriverYaml: ['  s3:', ...s3Keys('/from-pier')] });
    try {
      assert.equal(await pull(reference.host, 'interop/written-by-pier:v1'), pushed);
    } finally {
      await reference.close();
    }
  });

  it('continues and completes on a second Pier process an upload started on the first', async () => {
    const [first, second] = await Promise.all([
      startPier('replica-a', '/shared', ['  redirect:', '    disable: true']),
      startPier('replica-b', '/shared', ['  redirect:', '    disable: true']),
    ]);
    try {
      const chunks = [randomBytes(6 * 1024 * 1024 + 3), randomBytes(7 * 1024 * 1024 + 5), randomBytes(1001)];
      const blob = Buffer.concat(chunks);
      const digest = sha256(blob);
      const started = await fetch(`${first.url}/v2/shared/app/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      let location = started.headers.get('location')!;
      let offset = 0;
      for (const [i, chunk] of chunks.slice(0, 2).entries()) {
        const target = i === 0 ? first : second; // each chunk on another process
        const response = await fetch(new URL(location, target.url), {
          method: 'PATCH',
          body: chunk,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
        });
        assert.equal(response.status, 202, await response.text());
        offset += chunk.length;
        assert.equal(response.headers.get('range'), `0-${offset - 1}`);
        location = response.headers.get('location')!;
      }
      const status = await fetch(new URL(location, first.url));
      assert.equal(status.headers.get('range'), `0-${offset - 1}`, 'the first process sees what the second appended');
      const url = new URL(location, second.url);
      url.searchParams.set('digest', digest);
      const done = await fetch(url, { method: 'PUT', body: chunks[2], headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(done.status, 201, await done.text());
      const served = await fetch(`${second.url}/v2/shared/app/blobs/${digest}`);
      assert.equal(served.status, 200);
      assert.equal(sha256(Buffer.from(await served.arrayBuffer())), digest);
      const { S3Client, HeadObjectCommand } = await import('@aws-sdk/client-s3');
      const client = new S3Client({ endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: swift.accessKey, secretAccessKey: swift.secretKey } });
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `shared/docker/registry/v2/blobs/sha256/${digest.slice(7, 9)}/${digest.slice(7)}/data` }));
        assert.equal(head.ContentLength, blob.length);
      } finally {
        client.destroy();
      }
    } finally {
      await Promise.all([first.stop(), second.stop()]);
    }
  });
});
