/**
 * Builds that run commands, and the queue's durability, against a real Pier process: a Dockerfile with
 * RUN builds with buildah (chroot isolation, vfs storage; Debian's busybox-static gives the image a
 * shell); Pier killed with SIGKILL in the middle of that build and started again requeues it and
 * finishes it, with one log holding both attempts (read with `pier build logs -f`); a cancelled build
 * stops its buildah at once. Definitions come from the config file and from the admin API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { createClientEnv, run, type ClientEnv } from '../support/client-env.ts';
import { requireTools } from '../support/tools.ts';
import { commitFiles, startGitDaemon, type GitDaemon } from '../support/git-daemon.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const BUSYBOX = '/bin/busybox';

describe('builds with RUN (buildah), restart and cancel', () => {
  let work: string;
  let daemon: GitDaemon;
  let pier: PierProcess;
  let client: ClientEnv;
  let config: string;
  let data: string;

  before(async () => {
    requireTools('git', 'buildah', 'skopeo');
    const busybox = await readFile(BUSYBOX).catch(() => {
      throw new Error(`${BUSYBOX} missing: apt-get install busybox-static`);
    });
    work = await mkdtemp(join(tmpdir(), 'pier-buildah-'));
    await commitFiles(join(work, 'git', 'tools.git'), {
      busybox,
      Dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox sleep 4 && /bin/busybox mkdir -p /out && echo built-by-run > /out/done.txt"]\nCMD ["/bin/busybox", "cat", "/out/done.txt"]\n',
      'slow/Dockerfile': 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sleep", "300"]\n',
      'derived/Dockerfile': 'FROM team/tools:latest\nRUN ["/bin/busybox", "sh", "-c", "echo derived > /derived.txt"]\n',
    }, 'tools', undefined, ['busybox']);
    daemon = await startGitDaemon(join(work, 'git'));
    config = join(work, 'config.yml');
    data = join(work, 'data');
    // The first definition comes from the config file (GitOps); the second is made over the admin API.
    await writeFile(
      config,
      [
        'version: 0.1',
        'builds:',
        '  enabled: true',
        '  concurrency: 2',
        '  timeout: 5m',
        '  definitions:',
        '    - id: tools',
        '      repository: team/tools',
        `      source: { url: "${daemon.baseUrl}tools.git" }`,
        '      rules:',
        '        - { sourceType: Branch, sourceName: main, dockerTag: latest }',
        '',
      ].join('\n'),
    );
    pier = await startPierProcess(data, ['--config', config]);
    client = await createClientEnv('pier-buildah');
  });

  after(async () => {
    await pier?.stop();
    await daemon?.stop();
    await client?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const api = () => `${pier.url}/pier/api/v1/builds`;
  const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const show = async (id: string) => (await (await fetch(`${api()}/${id}`)).json()) as Record<string, any>;
  async function until(id: string, done: (b: Record<string, any>) => boolean, timeoutMs: number): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const b = await show(id);
      if (done(b)) return b;
      if (Date.now() > deadline) throw new Error(`build ${id}: still ${b.status}: ${await (await fetch(`${api()}/${id}/logs`)).text()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const logOf = async (id: string) => (await fetch(`${api()}/${id}/logs`)).text();

  it('a Dockerfile with RUN builds with buildah; SIGKILL of Pier mid-build requeues it on restart; the log is complete', async () => {
    const fromConfig = (await (await fetch(`${api()}/definitions/tools`)).json()) as any;
    assert.equal(fromConfig.origin, 'config');
    const change = await fetch(`${api()}/definitions/tools`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ repository: 'team/other' }) });
    assert.equal(change.status, 409, 'a definition from the config file is read-only through the API');
    const started = await post(`${api()}/definitions/tools/builds`, { sourceType: 'Branch', sourceName: 'main' });
    const id = ((await started.json()) as any).builds[0].id as string;
    // Kill Pier once buildah has started the RUN step.
    const deadline = Date.now() + 60_000;
    while (!/STEP 3\/3|RUN \[/.test(await logOf(id))) {
      if (Date.now() > deadline) throw new Error(`RUN never started: ${await logOf(id)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await show(id)).status, 'running');
    await pier.kill();
    pier = await startPierProcess(data, ['--config', config]);
    // Follow the log live from now until the build ends.
    const following = run(process.execPath, ['--import', 'tsx', CLI, 'build', 'logs', '-f', id, '--url', pier.url], { timeoutMs: 120_000 });
    const build = await until(id, (b) => ['succeeded', 'failed', 'cancelled'].includes(b.status), 90_000);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(id)}`);
    assert.equal(build.attempts, 2);
    assert.equal(build.builder, 'buildah');

    const cli = await following;
    assert.match(cli.stdout, /attempt 1\)[\s\S]*builder: buildah[\s\S]*attempt 2\)[\s\S]*builder: buildah[\s\S]*succeeded: team\/tools@sha256:/);
    assert.equal(cli.stdout, await logOf(id), 'the followed log is the whole stored log');
    assert.equal(cli.stdout.trim().split('\n').at(-1)!.includes('succeeded'), true);

    // The RUN's result is in the pushed image.
    const dir = await client.path('tools');
    await client.skopeo(['copy', '--src-tls-verify=false', `docker://${pier.url.slice(7)}/team/tools:latest`, `oci:${dir}:x`]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
    const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString());
    const last = await blob(manifest.layers.at(-1).digest);
    const extract = tar.extract();
    Readable.from([gunzipSync(last)]).pipe(extract);
    const files = new Map<string, string>();
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      files.set(entry.header.name.replace(/^\.?\//, ''), Buffer.concat(chunks).toString());
    }
    assert.equal(files.get('out/done.txt'), 'built-by-run\n', [...files.keys()].join(', '));
  });

  it('a cancelled build stops: its status is cancelled within seconds and its log says so', async () => {
    const defined = await post(`${api()}/definitions`, { id: 'slow', repository: 'team/slow', source: { url: `${daemon.baseUrl}tools.git` }, dockerfile: 'slow/Dockerfile', context: '.', builder: 'buildah' });
    assert.equal(defined.status, 201, await defined.text());
    const id = ((await (await post(`${api()}/definitions/slow/builds`, { sourceType: 'Branch', sourceName: 'main' })).json()) as any).builds[0].id as string;
    const deadline = Date.now() + 60_000;
    while (!/STEP 3\/3|RUN \[/.test(await logOf(id))) {
      if (Date.now() > deadline) throw new Error(`RUN never started: ${await logOf(id)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancelAt = Date.now();
    const res = await post(`${api()}/${id}/cancel`, {});
    assert.equal(res.status, 200);
    const build = await until(id, (b) => b.status !== 'running', 15_000);
    assert.equal(build.status, 'cancelled');
    assert.ok(Date.now() - cancelAt < 15_000);
    assert.match(await logOf(id), /cancelled\n$/);
    // A cancelled build stays cancelled (it is not requeued).
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await show(id)).status, 'cancelled');
  });

  it('a RUN build FROM an image in Pier starts from that image\'s layers and records it as its base', async () => {
    const defined = await post(`${api()}/definitions`, { id: 'derived', repository: 'team/derived', source: { url: `${daemon.baseUrl}tools.git` }, dockerfile: 'derived/Dockerfile', context: '.' });
    assert.equal(defined.status, 201, await defined.text());
    const id = ((await (await post(`${api()}/definitions/derived/builds`, { sourceType: 'Branch', sourceName: 'main' })).json()) as any).builds[0].id as string;
    const build = await until(id, (b) => ['succeeded', 'failed', 'cancelled'].includes(b.status), 90_000);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(id)}`);
    assert.equal(build.builder, 'buildah');
    const inspect = async (name: string) => JSON.parse((await client.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${pier.url.slice(7)}/${name}`])).stdout);
    const tools = await inspect('team/tools:latest');
    const derived = await inspect('team/derived:latest');
    assert.deepEqual(derived.layers.slice(0, tools.layers.length).map((l: any) => l.digest), tools.layers.map((l: any) => l.digest));
    assert.equal(derived.layers.length, tools.layers.length + 1);
    assert.deepEqual(build.bases.map((b: any) => [b.platform, b.repository, b.tag]), [['linux/amd64', 'team/tools', 'latest']]);
  });
});
