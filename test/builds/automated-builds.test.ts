/**
 * Automated builds end to end, with real git and skopeo: a git repository served by `git daemon` on
 * loopback, Pier with builds enabled (in this process, so the test can see the events builds emit),
 * push events in GitHub, GitLab and Gitea form, Hub-style trigger URLs, and repository links
 * (a chain A ← B ← C rebuilt in order when A is pushed again with skopeo).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { BuildEvent, BuildEvents } from '../../src/builds/build-events.ts';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { requireTools } from '../support/tools.ts';
import { commitFiles, git, startGitDaemon, type GitDaemon } from '../support/git-daemon.ts';
import { writeOciImage } from '../support/oci-layout.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { loadConfigOrThrow } from '../../src/config/load.ts';
import { pullThroughSettings } from '../../src/config/proxy-settings.ts';
import { writeFileSync } from 'node:fs';

const SECRET = 'webhook-secret-1234';
const APP_DOCKERFILE = `# syntax=docker/dockerfile:1
ARG VERSION=1.0
FROM scratch AS build
COPY src/ /out/
COPY --chmod=0755 bin/tool /out/bin/tool

FROM scratch
ARG VERSION
LABEL org.opencontainers.image.version="\${VERSION}" \\
      com.example.team="builds"
ENV APP_HOME=/app PATH=/app/bin
WORKDIR /app
COPY --from=build --chown=1000:1000 /out/ ./
COPY config.json /etc/app/
USER 1000:1000
EXPOSE 8080 9090/udp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/app/bin/tool", "health"]
ENTRYPOINT ["/app/bin/tool"]
CMD ["serve", "--port", "8080"]
`;

interface Layer {
  files: Map<string, { type: string; mode: number; uid: number; gid: number; mtime: number; content?: string }>;
}

async function readLayer(bytes: Buffer): Promise<Layer> {
  const files: Layer['files'] = new Map();
  const extract = tar.extract();
  Readable.from([gunzipSync(bytes)]).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const h = entry.header;
    files.set(h.name.replace(/\/$/, ''), { type: h.type!, mode: h.mode!, uid: h.uid!, gid: h.gid!, mtime: h.mtime!.getTime() / 1000, ...(h.type === 'file' ? { content: Buffer.concat(chunks).toString() } : {}) });
  }
  return { files };
}

describe('automated builds', () => {
  let work: string;
  let daemon: GitDaemon;
  let upstream: RunningReference;
  let server: RunningServer;
  let client: ClientEnv;
  let host: string;
  let api: string;
  const events: BuildEvent[] = [];
  const recorder: BuildEvents = { emit: async (e) => void events.push(e) };
  let mainCommit: string;
  let tagCommit: string;

  before(async () => {
    requireTools('git', 'skopeo', 'docker-registry');
    work = await mkdtemp(join(tmpdir(), 'pier-builds-'));
    const repo = join(work, 'git', 'app.git');
    mainCommit = await commitFiles(repo, {
      Dockerfile: APP_DOCKERFILE,
      '.dockerignore': 'src/*.tmp\nsrc/secret\n!src/secret/keep.txt\n',
      'src/index.html': '<h1>hello</h1>\n',
      'src/scratch.tmp': 'ignored\n',
      'src/secret/key.pem': 'do not ship\n',
      'src/secret/keep.txt': 'kept by an exception\n',
      'bin/tool': '#!/bin/tool\n',
      'config.json': '{"port":8080}\n',
      'b/Dockerfile': 'FROM base/a:1\nCOPY b.txt /b.txt\n',
      'b/b.txt': 'layer of B\n',
      'c/Dockerfile': 'FROM team/b:latest\nCOPY c.txt /c.txt\n',
      'c/c.txt': 'layer of C\n',
      'm/Dockerfile': 'FROM base/multi:1\nARG TARGETARCH\nCOPY m.txt /m-${TARGETARCH}.txt\nCMD ["/m"]\n',
      'm/m.txt': 'multi\n',
      'u/Dockerfile': 'FROM up/vendor/base:1\nCOPY u.txt /u.txt\n',
      'u/u.txt': 'on an upstream base\n',
    }, 'first');
    await git(repo, ['tag', 'v1.2']);
    tagCommit = mainCommit;
    daemon = await startGitDaemon(join(work, 'git'));
    // An upstream registry (the reference registry) that Pier's pull-through cache serves under up/.
    upstream = await startReferenceRegistry({ dataDir: join(work, 'upstream') });
    const proxyConfig = join(work, 'proxy.yml');
    writeFileSync(proxyConfig, ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${join(work, 'data')}`, 'proxy:', '  upstreams:', '    - name: up', '      prefix: up/', `      remoteurl: ${upstream.url}`, ''].join('\n'));
    const pullThrough = pullThroughSettings(loadConfigOrThrow({ file: proxyConfig, env: {} }).config)!;
    server = await startServer({
      pullThrough,
      dataDir: join(work, 'data'),
      listen: { host: '127.0.0.1', port: 0 },
      logger: createLogger(process.env.PIER_TEST_LOG === '1' ? 'debug' : 'silent'),
      registry: { deleteEnabled: true },
      builds: { concurrency: 2, timeoutMs: 60_000, registryHosts: [], definitions: [], events: recorder },
    });
    host = `127.0.0.1:${server.port}`;
    api = `http://${host}/pier/api/v1/builds`;
    client = await createClientEnv('pier-builds');
  });

  after(async () => {
    await server?.close();
    await daemon?.stop();
    await upstream?.close();
    await client?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  async function define(body: Record<string, unknown>): Promise<void> {
    const res = await post(`${api}/definitions`, body);
    assert.equal(res.status, 201, await res.text());
  }

  async function waitFor(id: string, timeoutMs = 60_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const build = (await (await fetch(`${api}/${id}`)).json()) as Record<string, any>;
      if (['succeeded', 'failed', 'cancelled'].includes(build.status)) return build;
      if (Date.now() > deadline) throw new Error(`build ${id} still ${build.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function logOf(id: string): Promise<string> {
    return (await fetch(`${api}/${id}/logs`)).text();
  }

  function githubPush(ref: string, after: string, secret = SECRET) {
    const body = JSON.stringify({ ref, after, repository: { full_name: 'example/app' } });
    return post(`http://${host}/pier/hooks/builds/app`, body, { 'X-GitHub-Event': 'push', 'X-Hub-Signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` });
  }

  async function pull(repository: string, tag: string): Promise<{ manifest: any; config: any; layers: Layer[]; layerDigests: string[] }> {
    const dir = await client.path(`pull-${repository.replace(/\//g, '-')}-${tag}-${Date.now()}`);
    await client.skopeo(['copy', '--src-tls-verify=false', `docker://${host}/${repository}:${tag}`, `oci:${dir}:x`]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
    const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString());
    const config = JSON.parse((await blob(manifest.config.digest)).toString());
    const layers = [];
    for (const l of manifest.layers) layers.push(await readLayer(await blob(l.digest)));
    return { manifest, config, layers, layerDigests: manifest.layers.map((l: any) => l.digest) };
  }

  it('a GitHub push event builds the RUN-less multi-stage Dockerfile exactly as written; same commit, same digest; a bad signature is refused', async () => {
    await define({
      id: 'app',
      repository: 'team/app',
      source: { url: `${daemon.baseUrl}app.git` },
      webhookSecret: SECRET,
      buildArgs: { VERSION: '2.5' },
      rules: [
        { sourceType: 'Branch', sourceName: 'main', dockerTag: 'latest' },
        { sourceType: 'Tag', sourceName: '/^v([0-9.]+)$/', dockerTag: '{\\1}' },
        { sourceType: 'Branch', sourceName: '/^feature-(.*)$/', dockerTag: 'dev-{\\1}', autobuild: false },
      ],
    });
    const bad = await githubPush('refs/heads/main', mainCommit, 'wrong-secret-000');
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as any).errors[0].code, 'UNAUTHORIZED');

    const res = await githubPush('refs/heads/main', mainCommit);
    assert.equal(res.status, 202, await res.clone().text());
    const [queued] = ((await res.json()) as any).builds;
    assert.deepEqual(queued.tags, ['latest']);
    const build = await waitFor(queued.id);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(queued.id)}`);
    assert.equal(build.commit, mainCommit);
    assert.equal(build.builder, 'builtin');
    assert.ok(build.durationMs >= 0);

    const { manifest, config, layers } = await pull('team/app', 'latest');
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(config.created, '2024-01-02T03:04:05.000Z');
    assert.deepEqual(config.config.Env, ['APP_HOME=/app', 'PATH=/app/bin']);
    assert.deepEqual(config.config.Entrypoint, ['/app/bin/tool']);
    assert.deepEqual(config.config.Cmd, ['serve', '--port', '8080']);
    assert.deepEqual(config.config.Labels, { 'org.opencontainers.image.version': '2.5', 'com.example.team': 'builds' });
    assert.equal(config.config.User, '1000:1000');
    assert.equal(config.config.WorkingDir, '/app');
    assert.deepEqual(config.config.ExposedPorts, { '8080/tcp': {}, '9090/udp': {} });
    assert.deepEqual(config.config.Volumes, { '/data': {} });
    assert.equal(config.config.StopSignal, 'SIGTERM');
    assert.deepEqual(config.config.Healthcheck, { Test: ['CMD', '/app/bin/tool', 'health'], Interval: 30e9, Timeout: 5e9, Retries: 3 });
    assert.deepEqual(
      config.history.map((h: any) => [h.created_by, h.empty_layer === true]),
      [
        ['ARG VERSION', true],
        ['LABEL org.opencontainers.image.version="${VERSION}"       com.example.team="builds"', true],
        ['ENV APP_HOME=/app PATH=/app/bin', true],
        ['WORKDIR /app', true],
        ['COPY --from=build --chown=1000:1000 /out/ ./', false],
        ['COPY config.json /etc/app/', false],
        ['USER 1000:1000', true],
        ['EXPOSE 8080 9090/udp', true],
        ['VOLUME ["/data"]', true],
        ['STOPSIGNAL SIGTERM', true],
        ['HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/app/bin/tool", "health"]', true],
        ['ENTRYPOINT ["/app/bin/tool"]', true],
        ['CMD ["serve", "--port", "8080"]', true],
      ],
    );
    assert.equal(layers.length, 2);
    assert.equal(config.rootfs.diff_ids.length, 2);
    const app = layers[0]!.files;
    assert.deepEqual([...app.keys()], ['app', 'app/bin', 'app/bin/tool', 'app/index.html', 'app/secret', 'app/secret/keep.txt']);
    assert.equal(app.get('app/bin/tool')!.mode, 0o755);
    assert.equal(app.get('app/bin/tool')!.content, '#!/bin/tool\n');
    assert.equal(app.get('app/index.html')!.content, '<h1>hello</h1>\n');
    for (const [name, f] of app) {
      assert.equal(f.mtime, Date.parse('2024-01-02T03:04:05Z') / 1000, name);
      assert.deepEqual([f.uid, f.gid], [1000, 1000], name); // new files and folders take --chown's owner
    }
    assert.deepEqual([...layers[1]!.files.keys()], ['etc', 'etc/app', 'etc/app/config.json']);

    // The same commit again (not deduplicated: the first has finished) gives the same digest.
    const again = await post(`${api}/definitions/app/builds`, { sourceType: 'Branch', sourceName: 'main', commit: mainCommit });
    assert.equal(again.status, 202);
    const second = await waitFor(((await again.json()) as any).builds[0].id);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.digest, build.digest);
    const succeeded = events.filter((e) => e.type === 'build.succeeded' && e.repository === 'team/app');
    assert.ok(succeeded.length >= 2);
    const metrics = await (await fetch(`http://${host}/metrics`)).text();
    assert.match(metrics, /pier_builds_finished_total\{outcome="succeeded"\} [2-9]/);
    assert.match(metrics, /pier_builds\{status="queued"\} 0/);
  });

  it('GitLab (tag push) and Gitea (branch push) events start builds; their secrets are checked too', async () => {
    const tagBody = JSON.stringify({ object_kind: 'tag_push', ref: 'refs/tags/v1.2', checkout_sha: tagCommit, after: tagCommit });
    const wrong = await post(`http://${host}/pier/hooks/builds/app`, tagBody, { 'X-Gitlab-Event': 'Tag Push Hook', 'X-Gitlab-Token': 'nope' });
    assert.equal(wrong.status, 401);
    const gitlab = await post(`http://${host}/pier/hooks/builds/app`, tagBody, { 'X-Gitlab-Event': 'Tag Push Hook', 'X-Gitlab-Token': SECRET });
    assert.equal(gitlab.status, 202);
    const gitlabBuild = ((await gitlab.json()) as any).builds[0];
    assert.deepEqual(gitlabBuild.tags, ['1.2']);

    const giteaBody = JSON.stringify({ ref: 'refs/heads/main', after: mainCommit });
    const badGitea = await post(`http://${host}/pier/hooks/builds/app`, giteaBody, { 'X-Gitea-Event': 'push', 'X-Gitea-Signature': createHmac('sha256', 'other-secret').update(giteaBody).digest('hex') });
    assert.equal(badGitea.status, 401);
    const gitea = await post(`http://${host}/pier/hooks/builds/app`, giteaBody, { 'X-Gitea-Event': 'push', 'X-Gitea-Signature': createHmac('sha256', SECRET).update(giteaBody).digest('hex') });
    assert.equal(gitea.status, 202);
    const giteaBuild = ((await gitea.json()) as any).builds[0];
    assert.deepEqual(giteaBuild.tags, ['latest']);
    assert.equal((await waitFor(gitlabBuild.id)).status, 'succeeded');
    assert.equal((await waitFor(giteaBuild.id)).status, 'succeeded');
    const tags = (await (await fetch(`http://${host}/v2/team/app/tags/list`)).json()) as any;
    assert.deepEqual(tags.tags.sort(), ['1.2', 'latest']);
    // A feature branch's rule has autobuild off: a push to it starts nothing.
    const feature = await githubPush('refs/heads/feature-x', mainCommit);
    assert.equal(feature.status, 200);
    assert.deepEqual(((await feature.json()) as any).builds, []);
  });

  it('Hub-style trigger URLs start the right builds for each body form; a wrong or rotated-out token is refused', async () => {
    const first = (await (await post(`${api}/definitions/app/trigger-token`, {})).json()) as any;
    const rotated = (await (await post(`${api}/definitions/app/trigger-token`, {})).json()) as any;
    assert.notEqual(first.token, rotated.token);
    assert.match(rotated.url, /\/api\/build\/v1\/source\/app\/trigger\/[A-Za-z0-9_-]+\/call\/$/);
    const url = rotated.url as string;
    const old = await post(first.url, { source_type: 'Branch', source_name: 'main' });
    assert.equal(old.status, 401);
    const wrong = await post(url.replace(rotated.token, 'x'.repeat(32)), {});
    assert.equal(wrong.status, 401);

    const cases: Array<[unknown, string[]]> = [
      [{ source_type: 'Tag', source_name: 'v1.2' }, ['1.2']],
      [{ source_type: 'Branch', source_name: 'feature-login' }, ['dev-login']],
      [{ docker_tag: 'latest' }, ['latest']],
      ['', ['latest']],
    ];
    const ids: string[] = [];
    for (const [body, tags] of cases) {
      const res = await fetch(url, { method: 'POST', ...(body === '' ? {} : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }) });
      assert.equal(res.status, 202, JSON.stringify(body));
      const json = (await res.json()) as any;
      assert.equal(json.state, 'Success');
      assert.deepEqual(json.builds.map((b: any) => b.tags).flat(), tags, JSON.stringify(body));
      assert.equal(json.builds[0].cause.kind, 'trigger');
      ids.push(json.builds[0].id);
    }
    // The last two ask for the same build while the first may still be queued: identical queued builds are one.
    const results = await Promise.all([...new Set(ids)].map((id) => waitFor(id)));
    const feature = results.find((b) => b.tags.includes('dev-login'))!;
    assert.equal(feature.status, 'failed'); // there is no branch feature-login in the repository
    assert.match(feature.error, /git fetch failed/);
    assert.ok(results.filter((b) => b.status === 'succeeded').length >= 2);
    const unknownRule = await post(url, { source_type: 'Tag', source_name: 'nightly' });
    assert.equal(unknownRule.status, 400);
  });

  it('repository links: pushing a new base rebuilds B then C, once each, on the new layers; an image pushed from elsewhere gets base.updated', async () => {
    const layouts = join(work, 'layouts');
    const a1 = await writeOciImage(join(layouts, 'a1'), '1', [{ 'etc/os-release': 'A version 1\n' }]);
    const copy = (from: string, to: string) => client.skopeo(['copy', '--dest-tls-verify=false', from, `docker://${host}/${to}`]);
    await copy(a1.ref, 'base/a:1');
    await define({ id: 'b', repository: 'team/b', source: { url: `${daemon.baseUrl}app.git`, token: 'tok-SECRET-4711' }, dockerfile: 'b/Dockerfile', context: 'b' });
    await define({ id: 'c', repository: 'team/c', source: { url: `${daemon.baseUrl}app.git` }, dockerfile: 'c/Dockerfile', context: 'c' });
    const start = async (id: string) => waitFor(((await (await post(`${api}/definitions/${id}/builds`, { sourceType: 'Branch', sourceName: 'main' })).json()) as any).builds[0].id);
    const b1 = await start('b');
    assert.equal(b1.status, 'succeeded', b1.error);
    assert.equal(b1.bases[0].repository, 'base/a');
    // The source token is never shown or logged.
    const shown = await (await fetch(`${api}/definitions/b`)).text();
    const basic = Buffer.from('x-access-token:tok-SECRET-4711').toString('base64');
    for (const text of [shown, await logOf(b1.id)]) assert.ok(!text.includes('tok-SECRET-4711') && !text.includes(basic), text);
    assert.equal(JSON.parse(shown).source.token, 'set');
    const c1 = await start('c');
    assert.equal(c1.status, 'succeeded', c1.error);
    assert.equal(c1.bases[0].repository, 'team/b');

    // D: pushed from elsewhere, A's layer plus its own; Pier finds A as its base by layer prefix.
    const d = await writeOciImage(join(layouts, 'd'), '1', [{ 'etc/os-release': 'A version 1\n' }, { 'd.txt': 'D\n' }]);
    await copy(d.ref, 'other/d:1');
    await new Promise((r) => setTimeout(r, 300)); // the tag observer runs after the push returns

    const a2 = await writeOciImage(join(layouts, 'a2'), '1', [{ 'etc/os-release': 'A version 2\n' }]);
    const pushedAt = Date.now();
    await copy(a2.ref, 'base/a:1');
    const a2Digest = (await client.skopeo(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${host}/base/a:1`])).stdout.trim();

    // Wait for C's rebuild, then check the order and counts.
    let rebuilds: any[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const list = ((await (await fetch(`${api}?limit=100`)).json()) as any).builds as any[];
      rebuilds = list.filter((b) => b.cause.kind === 'base-change');
      const c2 = rebuilds.find((b) => b.definition === 'c');
      if (c2 && ['succeeded', 'failed'].includes(c2.status)) break;
      if (Date.now() > deadline) throw new Error(`no rebuild of C: ${JSON.stringify(rebuilds)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const pullableMs = Date.now() - pushedAt;
    await new Promise((r) => setTimeout(r, 1500)); // would a second rebuild follow? (it must not)
    rebuilds = (((await (await fetch(`${api}?limit=100`)).json()) as any).builds as any[]).filter((b) => b.cause.kind === 'base-change');
    assert.deepEqual(rebuilds.map((b) => b.definition).sort(), ['b', 'c'], JSON.stringify(rebuilds));
    const b2 = rebuilds.find((b) => b.definition === 'b');
    const c2 = rebuilds.find((b) => b.definition === 'c');
    assert.equal(b2.status, 'succeeded', b2.error);
    assert.equal(c2.status, 'succeeded', c2.error);
    assert.ok(Date.parse(c2.startedAt) >= Date.parse(b2.finishedAt), 'C starts after B has finished');
    assert.equal(b2.cascade.id, c2.cascade.id);
    assert.equal(b2.bases[0].digest, a2Digest);

    const newB = await pull('team/b', 'latest');
    const newC = await pull('team/c', 'latest');
    assert.deepEqual(newB.layerDigests.slice(0, 1), a2.layerDigests);
    assert.deepEqual(newC.layerDigests.slice(0, 2), newB.layerDigests);
    assert.equal(newC.layers[0]!.files.get('etc/os-release')!.content, 'A version 2\n');

    const updated = events.filter((e) => e.type === 'base.updated');
    assert.equal(updated.length, 1, JSON.stringify(updated));
    assert.deepEqual(updated[0], { type: 'base.updated', repository: 'other/d', tag: '1', platform: 'linux/amd64', digest: updated[0]!.type === 'base.updated' ? updated[0]!.digest : '', base: { repository: 'base/a', tag: '1', previousDigest: (updated[0] as any).base.previousDigest, digest: a2Digest } });
    process.stdout.write(`# base push → rebuilt dependent C pullable: ${pullableMs} ms\n`);
  });

  it('multi-platform: on a multi-arch base the new layers are applied per platform; Docker media types on request', async () => {
    const base = await writeOciImage(join(work, 'layouts', 'multi'), '1', [{ 'etc/os-release': 'multi base\n' }], [], ['amd64', 'arm64']);
    await client.skopeo(['copy', '--all', '--dest-tls-verify=false', base.ref, `docker://${host}/base/multi:1`]);
    await define({ id: 'multi', repository: 'team/multi', source: { url: `${daemon.baseUrl}app.git` }, dockerfile: 'm/Dockerfile', context: 'm', format: 'docker' });
    const id = ((await (await post(`${api}/definitions/multi/builds`, { sourceType: 'Branch', sourceName: 'main' })).json()) as any).builds[0].id;
    const build = await waitFor(id);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(id)}`);
    assert.deepEqual(build.bases.map((b: any) => b.platform).sort(), ['linux/amd64', 'linux/arm64']);
    const list = JSON.parse((await client.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/team/multi:latest`])).stdout);
    assert.equal(list.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.deepEqual(list.manifests.map((m: any) => m.platform.architecture).sort(), ['amd64', 'arm64']);
    for (const arch of ['amd64', 'arm64']) {
      const dir = await client.path(`multi-${arch}`);
      await client.skopeo(['copy', '--override-arch', arch, '--src-tls-verify=false', `docker://${host}/team/multi:latest`, `oci:${dir}:x`]);
      const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
      const blob = (d: string) => readFile(join(dir, 'blobs', 'sha256', d.slice(7)));
      const manifest = JSON.parse((await blob(index.manifests[0].digest)).toString());
      assert.deepEqual(manifest.layers.slice(0, 1).map((l: any) => l.digest), base.platforms[arch]);
      const config = JSON.parse((await blob(manifest.config.digest)).toString());
      assert.equal(config.architecture, arch);
      const added = await readLayer(await blob(manifest.layers[1].digest));
      assert.deepEqual([...added.files.keys()], [`m-${arch}.txt`]);
    }
  });

  it('a context archive uploaded over the admin API builds with the definition\'s Dockerfile', async () => {
    await define({ id: 'uploaded', repository: 'team/uploaded', buildArgs: { SOURCE_DATE_EPOCH: '1700000000' } });
    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile', mtime: new Date(0) }, 'FROM scratch\nCOPY site/ /srv/\nLABEL from=upload\n');
    pack.entry({ name: 'site/index.html', mtime: new Date(0) }, 'uploaded\n');
    pack.entry({ name: '../escape.txt', mtime: new Date(0) }, 'never written\n');
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const { gzipSync } = await import('node:zlib');
    const res = await fetch(`${api}/definitions/uploaded/context?tag=v1`, { method: 'POST', headers: { 'Content-Type': 'application/gzip' }, body: gzipSync(Buffer.concat(chunks)) });
    assert.equal(res.status, 202, await res.clone().text());
    const queued = ((await res.json()) as any).builds[0];
    assert.equal(queued.cause.kind, 'upload');
    assert.match(queued.archive, /^sha256:[0-9a-f]{64}$/);
    const build = await waitFor(queued.id);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(queued.id)}`);
    const { config, layers } = await pull('team/uploaded', 'v1');
    assert.deepEqual(config.config.Labels, { from: 'upload' });
    assert.equal(config.created, '2023-11-14T22:13:20.000Z');
    assert.deepEqual([...layers[0]!.files.keys()], ['srv', 'srv/index.html']);
    assert.deepEqual(await readdir(join(work, 'data', 'pier', 'build-contexts')), [], 'the archive is deleted once its build has ended');
    // Such a definition has no git source: trigger forms are refused with a clear error.
    const start = await post(`${api}/definitions/uploaded/builds`, { sourceType: 'Branch', sourceName: 'main' });
    assert.equal(start.status, 400);
    assert.match(((await start.json()) as any).errors[0].message, /no git source/);
  });

  it('FROM an image the pull-through cache serves: the base is fetched from the upstream through the cache', async () => {
    const base = await writeOciImage(join(work, 'layouts', 'upstream-base'), '1', [{ 'etc/os-release': 'upstream base\n' }]);
    await client.skopeo(['copy', '--dest-tls-verify=false', base.ref, `docker://${upstream.host}/vendor/base:1`]);
    await define({ id: 'proxied', repository: 'team/proxied', source: { url: `${daemon.baseUrl}app.git` }, dockerfile: 'u/Dockerfile', context: 'u' });
    const id = ((await (await post(`${api}/definitions/proxied/builds`, { sourceType: 'Branch', sourceName: 'main' })).json()) as any).builds[0].id;
    const build = await waitFor(id);
    assert.equal(build.status, 'succeeded', `${build.error}\n${await logOf(id)}`);
    assert.deepEqual(build.bases.map((b: any) => [b.repository, b.tag]), [['up/vendor/base', '1']]);
    const built = await pull('team/proxied', 'latest');
    assert.deepEqual(built.layerDigests.slice(0, 1), base.layerDigests);
    assert.equal(built.layers[1]!.files.get('u.txt')!.content, 'on an upstream base\n');
  });
});
