/**
 * The admin API's browsing and operations resources against a real `pier serve` with htpasswd users and an
 * access policy: authorisation of every endpoint in the route table for anonymous, pull-only, push/delete
 * and admin callers; browser sessions (cookie attributes, CSRF refusal, sign-out, API-token sessions);
 * search by name, label and annotation, sorting and paging; tag, manifest, index and referrer detail; the
 * OpenAPI document against the route table; the web UI's files at a configured path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { ADMIN_ROUTES, matchAdminRoute } from '../../src/http/admin/admin-routes.ts';
import { startPierServe, type ServedPier } from '../support/pier-serve.ts';
import { CLI, send, tempDir, writeHtpasswd, type Reply } from '../auth/fixtures.ts';
import { basicAuth, pushTestImage, pushTestIndex, type Pushed } from './registry-content.ts';

const API = '/pier/api/v1/';
const PASSWORDS = { alice: 'alice-pw', dev: 'dev-pw', viewer: 'viewer-pw' } as const;
type CallerName = 'anon' | keyof typeof PASSWORDS;
const CALLERS: CallerName[] = ['anon', 'viewer', 'dev', 'alice'];
const auth = (who: CallerName): Record<string, string> => (who === 'anon' ? {} : { Authorization: basicAuth(who, PASSWORDS[who]) });

let pier: ServedPier;
let app: Pushed;
let multi: { digest: string; children: Pushed[] };
let sbom: Pushed;
const scratch: Record<string, Pushed> = {};

function call(path: string, who: CallerName | Record<string, string>, options: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers = { ...(typeof who === 'string' ? auth(who) : who), ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...options.headers };
  return send(`${pier.url}${API}${path}`, { method: options.method ?? 'GET', headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
}

const errorCode = (r: Reply): string => r.json<{ errors: Array<{ code: string }> }>().errors[0]!.code;

before(async () => {
  const dir = tempDir('web-admin');
  await writeHtpasswd(`${dir}/htpasswd`, PASSWORDS);
  pier = await startPierServe(
    dir,
    `version: 0.1
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
auth:
  htpasswd:
    realm: pier-web
    path: ${dir}/htpasswd
access:
  loginlimit:
    maxfailures: 1000
  policy:
    admins: [alice]
    anonymous: ['public/**']
    rules:
      - repositories: ['team/**']
        users: [dev]
        actions: [pull, push, delete]
      - repositories: ['team/**']
        users: [viewer]
        actions: [pull]
lifecycle:
  gc:
    enabled: true
    interval: 24h
    grace: 1h
  retention:
    - repository: 'team/**'
      keeplast: 10
  immutabletags:
    - repository: team/app
      tag: stable
  quotas:
    - namespace: team
      limit: 50MB
web:
  path: /ui/
`,
  );
  const admin = basicAuth('alice', PASSWORDS.alice);
  app = await pushTestImage(pier.url, 'team/app', admin, {
    tag: '1.0',
    labels: { 'org.opencontainers.image.title': 'Pier App', 'org.example.tier': 'gold' },
    annotations: { 'org.example.team': 'blue' },
    layerBytes: [3000, 2000],
  });
  for (const tag of ['stable', 'del-anon', 'del-viewer', 'del-dev', 'del-alice']) {
    const res = await fetch(`${pier.url}/v2/team/app/manifests/1.0`, { headers: { Authorization: admin, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const body = Buffer.from(await res.arrayBuffer());
    const put = await fetch(`${pier.url}/v2/team/app/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(body), headers: { Authorization: admin, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);
  }
  await pushTestImage(pier.url, 'team/tools', admin, { tag: 'latest', layerBytes: [50_000] });
  await pushTestImage(pier.url, 'public/hello', admin, { tag: 'latest', labels: { 'org.example.tier': 'free' } });
  await pushTestImage(pier.url, 'private/secret', admin, { tag: 'v1' });
  multi = await pushTestIndex(pier.url, 'team/multi', admin, 'latest');
  sbom = await pushTestImage(pier.url, 'team/app', admin, { artifactType: 'application/spdx+json', subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: app.digest, size: app.size } });
  for (const who of CALLERS) scratch[who] = await pushTestImage(pier.url, 'team/scratch', admin, { tag: `m-${who}` });
});

after(async () => {
  await pier?.stop();
});

describe('admin API: authorisation of every endpoint', () => {
  it('answers each caller as the route table and the policy say, for every route and method', async () => {
    const created = await call('tokens', 'alice', { method: 'POST', body: { name: 'ci', scope: [{ repositories: ['team/**'], actions: ['pull'] }] } });
    assert.equal(created.status, 201, created.text());
    const tokenId = created.json<{ id: string }>().id;
    type Case = { path: (who: CallerName) => string; method: string; body?: (who: CallerName) => unknown; expect: Record<CallerName, number> };
    const all = (status: number): Record<CallerName, number> => ({ anon: status, viewer: status, dev: status, alice: status });
    const signedIn = (status: number): Record<CallerName, number> => ({ anon: 401, viewer: status, dev: status, alice: status });
    const adminOnly = { anon: 401, viewer: 403, dev: 403, alice: 200 };
    const deleter = { anon: 401, viewer: 403, dev: 204, alice: 204 };
    const cases: Record<string, Case> = {
      'admin-session GET': { path: () => 'session', method: 'GET', expect: all(200) },
      'admin-session POST': { path: () => 'session', method: 'POST', body: () => ({ user: 'nobody', password: 'wrong' }), expect: all(401) },
      'admin-session DELETE': { path: () => 'session', method: 'DELETE', expect: all(204) },
      'admin-tokens GET': { path: () => 'tokens', method: 'GET', expect: signedIn(200) },
      'admin-tokens POST': { path: () => 'tokens', method: 'POST', body: (who) => ({ name: `t-${who}`, scope: [{ repositories: ['team/**'], actions: ['pull'] }] }), expect: signedIn(201) },
      'admin-token GET': { path: () => `tokens/${tokenId}`, method: 'GET', expect: { anon: 401, viewer: 404, dev: 404, alice: 200 } },
      'admin-token DELETE': { path: () => `tokens/${tokenId}`, method: 'DELETE', expect: { anon: 401, viewer: 404, dev: 404, alice: 204 } },
      'admin-usage GET': { path: () => 'usage?repository=team/app', method: 'GET', expect: signedIn(200) },
      'admin-repositories GET': { path: () => 'repositories', method: 'GET', expect: all(200) },
      'admin-repository-tags GET': { path: () => 'repositories/team/app/tags', method: 'GET', expect: signedIn(200) },
      'admin-repository-tag DELETE': { path: (who) => `repositories/team/app/tags/del-${who}`, method: 'DELETE', expect: deleter },
      'admin-repository-manifest GET': { path: () => 'repositories/team/app/manifests/1.0', method: 'GET', expect: signedIn(200) },
      'admin-repository-manifest DELETE': { path: (who) => `repositories/team/scratch/manifests/${scratch[who]!.digest}`, method: 'DELETE', expect: deleter },
      'admin-rules GET': { path: () => 'rules', method: 'GET', expect: adminOnly },
      'admin-storage GET': { path: () => 'storage', method: 'GET', expect: adminOnly },
      'admin-users GET': { path: () => 'users', method: 'GET', expect: adminOnly },
      'admin-gc-runs GET': { path: () => 'gc-runs', method: 'GET', expect: adminOnly },
      'admin-activity GET': { path: () => 'activity?days=7', method: 'GET', expect: adminOnly },
      'admin-openapi GET': { path: () => 'openapi.json', method: 'GET', expect: all(200) },
    };
    const table = ADMIN_ROUTES.flatMap((r) => Object.keys(r.methods).map((m) => `${r.id} ${m}`));
    assert.deepEqual(table.filter((k) => !(k in cases)), [], 'every endpoint of the route table has its authorisation checked here');
    assert.deepEqual(Object.keys(cases).filter((k) => !table.includes(k)), [], 'no case for an endpoint that does not exist');
    for (const [key, c] of Object.entries(cases)) {
      for (const who of CALLERS) {
        const res = await call(c.path(who), who, { method: c.method, ...(c.body ? { body: c.body(who) } : {}) });
        assert.equal(res.status, c.expect[who], `${key} as ${who}: ${res.status} ${res.text()}`);
        if (res.status >= 400) assert.ok(errorCode(res), `${key} as ${who}: the spec's error body`);
        if (res.status === 401 && key !== 'admin-session POST') assert.match(String(res.headers['www-authenticate']), /^Basic realm="pier-web"/, `${key} as ${who}: a challenge`);
      }
    }
    // Anonymous browsing reaches what the policy lets anonymous users pull, and only that.
    const anonymous = await call('repositories?sort=name', 'anon');
    assert.deepEqual(anonymous.json<{ repositories: Array<{ name: string }> }>().repositories.map((r) => r.name), ['public/hello']);
    assert.equal((await call('repositories/public/hello/tags', 'anon')).status, 200);
    const viewer = await call('repositories?sort=name', 'viewer');
    assert.deepEqual(viewer.json<{ repositories: Array<{ name: string }> }>().repositories.map((r) => r.name), ['public/hello', 'team/app', 'team/multi', 'team/scratch', 'team/tools']);
    assert.equal((await call('repositories/private/secret/tags', 'viewer')).status, 403);
    // An immutable tag stays, even for an admin; a read of a deleted tag is a 404 in the spec's format.
    const immutable = await call('repositories/team/app/tags/stable', 'alice', { method: 'DELETE' });
    assert.equal(immutable.status, 403);
    assert.match(immutable.text(), /immutable/);
    const gone = await call('repositories/team/app/manifests/del-dev', 'alice');
    assert.equal(gone.status, 404);
    assert.equal(errorCode(gone), 'MANIFEST_UNKNOWN');
    assert.equal((await call('repositories/Bad..Name/tags', 'alice')).status, 400);
  });
});

describe('admin API: browser sessions', () => {
  const cookieOf = (r: Reply): string => {
    const header = r.headers['set-cookie'];
    return (Array.isArray(header) ? header[0]! : String(header)).split(';')[0]!;
  };

  it('signs in with a password: a secure HttpOnly SameSite cookie; every change needs the CSRF token; signs out', async () => {
    const signIn = await call('session', {}, { method: 'POST', body: { user: 'dev', password: PASSWORDS.dev } });
    assert.equal(signIn.status, 201, signIn.text());
    const setCookie = String(signIn.headers['set-cookie']);
    for (const attribute of ['HttpOnly', 'SameSite=Strict', 'Secure', 'Path=/']) assert.ok(setCookie.includes(attribute), `${attribute} in ${setCookie}`);
    const cookie = { Cookie: cookieOf(signIn) };
    const session = await call('session', cookie);
    const info = session.json<{ user: string; signedIn: boolean; csrfToken: string; registryHost: string; features: string[] }>();
    assert.equal(info.user, 'dev');
    assert.equal(info.signedIn, true);
    assert.equal(info.csrfToken, signIn.json<{ csrfToken: string }>().csrfToken, 'the same CSRF token for the whole session');
    assert.equal(info.registryHost, pier.host);
    assert.ok(info.features.includes('admin-repositories'));

    await pushTestImage(pier.url, 'team/app', basicAuth('dev', PASSWORDS.dev), { tag: 'csrf' });
    for (const headers of [cookie, { ...cookie, 'X-CSRF-Token': 'not-the-token' }]) {
      const refused = await call('repositories/team/app/tags/csrf', headers, { method: 'DELETE' });
      assert.equal(refused.status, 403);
      assert.equal(errorCode(refused), 'DENIED');
      assert.match(refused.text(), /CSRF/);
    }
    const noCsrfToken = await call('tokens', cookie, { method: 'POST', body: { name: 'from-page', scope: [{ repositories: ['team/**'], actions: ['pull'] }] } });
    assert.equal(noCsrfToken.status, 403);
    assert.equal((await call('repositories/team/app/manifests/csrf', cookie)).status, 200, 'the refused delete changed nothing');
    const accepted = await call('repositories/team/app/tags/csrf', { ...cookie, 'X-CSRF-Token': info.csrfToken }, { method: 'DELETE' });
    assert.equal(accepted.status, 204, accepted.text());
    assert.equal((await call('repositories/team/app/manifests/csrf', cookie)).status, 404);

    const outWithoutToken = await call('session', cookie, { method: 'DELETE' });
    assert.equal(outWithoutToken.status, 403, 'signing out is a change too');
    const out = await call('session', { ...cookie, 'X-CSRF-Token': info.csrfToken }, { method: 'DELETE' });
    assert.equal(out.status, 204);
    assert.match(String(out.headers['set-cookie']), /pier_session=;.*Max-Age=0/);
    const after = (await call('session', cookie)).json<{ signedIn: boolean; user: string | null }>();
    assert.deepEqual([after.signedIn, after.user], [false, null], 'the old cookie is dead');
    assert.equal((await call('repositories/team/app/tags', cookie)).status, 401);
  });

  it('signs in with an API token: the session has the token’s scope and ends when it is revoked; wrong credentials are refused', async () => {
    const created = await call('tokens', 'dev', { method: 'POST', body: { name: 'browser', scope: [{ repositories: ['team/app'], actions: ['pull'] }] } });
    const { id, token } = created.json<{ id: string; token: string }>();
    const signIn = await call('session', {}, { method: 'POST', body: { user: 'dev', password: token } });
    assert.equal(signIn.status, 201);
    const cookie = { Cookie: cookieOf(signIn) };
    const info = (await call('session', cookie)).json<{ viaApiToken: { id: string } | null; csrfToken: string }>();
    assert.equal(info.viaApiToken?.id, id);
    const list = (await call('repositories?sort=name', cookie)).json<{ repositories: Array<{ name: string }> }>();
    assert.deepEqual(list.repositories.map((r) => r.name), ['team/app'], "only the token's scope, within the policy");
    const tags = (await call('repositories/team/app/tags', cookie)).json<{ canDelete: boolean }>();
    assert.equal(tags.canDelete, false, 'a pull-only token may not delete, whatever its owner may');
    const refused = await call('repositories/team/app/tags/1.0', { ...cookie, 'X-CSRF-Token': info.csrfToken }, { method: 'DELETE' });
    assert.equal(refused.status, 403);
    assert.equal((await call(`tokens/${id}`, 'dev', { method: 'DELETE' })).status, 204);
    assert.equal((await call('session', cookie)).json<{ signedIn: boolean }>().signedIn, false, 'revoking the token ended the session');
    const wrong = await call('session', {}, { method: 'POST', body: { user: 'dev', password: 'wrong' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['set-cookie'], undefined);
    assert.equal((await call('session', {}, { method: 'POST', body: 'user=dev' })).status, 400, 'a form post is not JSON');
  });
});

describe('admin API: browsing', () => {
  type Listing = { total: number; offset: number; limit: number; repositories: Array<{ name: string; tagCount: number; sizeBytes: number; lastPushAt: string }> };
  const names = async (query: string): Promise<string[]> => (await call(`repositories?${query}`, 'alice')).json<Listing>().repositories.map((r) => r.name);

  it('searches by name, label and annotation; sorts by name, size, tag count and last push; pages', async () => {
    assert.deepEqual(await names('q=tool'), ['team/tools']);
    assert.deepEqual(await names('q=label:org.opencontainers.image.title=pier%20app'), [], 'a value with a space is two words');
    assert.deepEqual(await names('q=label:org.example.tier=gold'), ['team/app']);
    assert.deepEqual(await names('q=label:org.example.tier&sort=name'), ['public/hello', 'team/app']);
    assert.deepEqual(await names('q=annotation:org.example.team=blue'), ['team/app']);
    assert.deepEqual(await names('q=gold'), ['team/app'], 'plain words match label values too');
    assert.deepEqual(await names('q=team%20label:org.example.tier'), ['team/app'], 'every word must match');
    assert.deepEqual(await names('sort=name'), ['private/secret', 'public/hello', 'team/app', 'team/multi', 'team/scratch', 'team/tools']);
    assert.deepEqual((await names('sort=size')).slice(0, 1), ['team/tools']);
    assert.deepEqual((await names('sort=tags')).slice(0, 1), ['team/app']);
    const byPush = await call('repositories?sort=lastPush', 'alice');
    const pushed = byPush.json<Listing>().repositories.map((r) => Date.parse(r.lastPushAt));
    assert.deepEqual(pushed, [...pushed].sort((a, b) => b - a), 'newest push first');
    const page = (await call('repositories?sort=name&offset=2&limit=2', 'alice')).json<Listing>();
    assert.deepEqual([page.total, page.offset, page.limit, page.repositories.map((r) => r.name)], [6, 2, 2, ['team/app', 'team/multi']]);
    for (const bad of ['sort=popularity', 'order=up', 'limit=0', 'limit=501', 'offset=-1', 'limit=abc']) {
      const res = await call(`repositories?${bad}`, 'alice');
      assert.equal(res.status, 400, bad);
      assert.equal(errorCode(res), 'INVALID_REQUEST');
    }
  });

  it('shows tags with digest, sizes, platforms and times, and manifests with layers, config, platforms and referrers', async () => {
    type Tags = { tagCount: number; canDelete: boolean; tags: Array<{ tag: string; digest: string; imageSize: number; platforms: Array<{ architecture: string }>; pushedAt: string; updatedAt: string }> };
    const tags = (await call('repositories/team/app/tags', 'viewer')).json<Tags>();
    assert.equal(tags.canDelete, false, 'a pull-only user is not offered deletes');
    const one = tags.tags.find((t) => t.tag === '1.0')!;
    assert.equal(one.digest, app.digest);
    assert.equal(one.imageSize, app.size + app.configSize + app.layers.reduce((s, l) => s + l.size, 0));
    assert.deepEqual(one.platforms.map((p) => p.architecture), ['amd64']);
    assert.ok(Date.parse(one.pushedAt) > Date.now() - 120_000);
    assert.equal((await call('repositories/team/app/tags', 'dev')).json<Tags>().canDelete, true);
    type Activity = { tags: Array<{ tag: string; pushedBy: string | null; lastPulledAt: string | null }> };
    const before = (await call('repositories/team/tools/tags', 'alice')).json<Activity>().tags[0]!;
    assert.equal(before.pushedBy, 'alice', 'who pushed, from the registry API request');
    assert.equal(before.lastPulledAt, null);
    const pull = await fetch(`${pier.url}/v2/team/tools/manifests/latest`, { headers: { Authorization: basicAuth('viewer', PASSWORDS.viewer), Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pull.status, 200);
    await pull.arrayBuffer();
    let pulled = before;
    for (let i = 0; i < 50 && pulled.lastPulledAt === null; i++) {
      pulled = (await call('repositories/team/tools/tags', 'alice')).json<Activity>().tags[0]!; // the server records a pull once its response has ended
      if (pulled.lastPulledAt === null) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(pulled.lastPulledAt && Date.parse(pulled.lastPulledAt) > Date.now() - 60_000, `last pulled ${pulled.lastPulledAt}`);
    assert.equal(pulled.pushedBy, 'alice', 'a pull leaves the pusher');
    const multiTags = (await call('repositories/team/multi/tags', 'viewer')).json<Tags>();
    assert.deepEqual(multiTags.tags[0]!.platforms.map((p) => p.architecture), ['amd64', 'arm64']);

    type Detail = {
      digest: string; kind: string; tags: string[]; annotations: Record<string, string>;
      config: { labels: Record<string, string>; env: string[]; cmd: string[]; entrypoint: string[]; exposedPorts: string[]; user: string; workingDir: string; history: Array<{ createdBy: string }> };
      layers: Array<{ digest: string; size: number }>; manifests: Array<{ digest: string; platform: { architecture: string } }>;
      referrers: Array<{ digest: string; artifactType: string }>;
    };
    const detail = (await call('repositories/team/app/manifests/1.0', 'viewer')).json<Detail>();
    assert.equal(detail.digest, app.digest);
    assert.equal(detail.kind, 'image');
    assert.ok(detail.tags.includes('1.0') && detail.tags.includes('stable'));
    assert.deepEqual(detail.layers.map((l) => [l.digest, l.size]), app.layers.map((l) => [l.digest, l.size]));
    assert.equal(detail.config.labels['org.example.tier'], 'gold');
    assert.deepEqual(detail.config.env, ['PATH=/usr/bin', 'MODE=test']);
    assert.deepEqual([detail.config.entrypoint, detail.config.cmd, detail.config.exposedPorts, detail.config.user, detail.config.workingDir], [['/init'], ['/bin/app', '--serve'], ['8080/tcp'], 'app', '/srv']);
    assert.equal(detail.config.history[0]!.createdBy, 'COPY app /bin/app');
    assert.deepEqual(detail.annotations, { 'org.example.team': 'blue' });
    assert.deepEqual(detail.referrers.map((r) => [r.digest, r.artifactType]), [[sbom.digest, 'application/spdx+json']]);
    const byDigest = (await call(`repositories/team/app/manifests/${app.digest}`, 'viewer')).json<Detail>();
    assert.equal(byDigest.digest, app.digest);
    const index = (await call('repositories/team/multi/manifests/latest', 'viewer')).json<Detail>();
    assert.equal(index.kind, 'index');
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.platform.architecture]), multi.children.map((c, i) => [c.digest, i === 0 ? 'amd64' : 'arm64']));
    const unknown = await call('repositories/team/app/manifests/nope', 'viewer');
    assert.equal(unknown.status, 404);
    assert.equal(errorCode(unknown), 'MANIFEST_UNKNOWN');
  });

  it('gives admins storage, rules with quota usage, and users', async () => {
    const storage = (await call('storage', 'alice')).json<{ repositories: Array<{ name: string; sizeBytes: number }>; namespaces: Array<{ namespace: string; sizeBytes: number }> }>();
    assert.equal(storage.repositories[0]!.name, 'team/tools', 'largest first');
    assert.ok(storage.namespaces.find((n) => n.namespace === 'team')!.sizeBytes >= 50_000);
    const rules = (await call('rules', 'alice')).json<{ quotas: Array<{ namespace: string; limit: number; usage: number }>; immutableTags: unknown[]; retention: unknown[]; gc: { intervalMs: number }; access: { policy: { admins: string[] } } }>();
    assert.deepEqual(rules.quotas.map((q) => [q.namespace, q.limit]), [['team', 50_000_000]]);
    assert.ok(rules.quotas[0]!.usage >= 50_000);
    assert.deepEqual(rules.immutableTags, [{ repository: 'team/app', tag: 'stable' }]);
    assert.deepEqual(rules.retention, [{ repository: 'team/**', keepLast: 10, keepTags: [], maxAgeMs: null }]);
    assert.equal(rules.gc.intervalMs, 24 * 3_600_000);
    assert.deepEqual(rules.access.policy.admins, ['alice']);
    // A `pier gc` beside the running server is recorded with what it freed (the deleted scratch images).
    const gc = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'gc', '--config', pier.configFile, '--grace', '0s'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(gc.status, 0, gc.stderr + gc.stdout);
    const runs = (await call('gc-runs', 'alice')).json<{ runs: Array<{ trigger: string; bytesFreed: number; blobsDeleted: number; startedAt: string }> }>().runs;
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.trigger, 'command');
    assert.ok(runs[0]!.blobsDeleted >= 2 && runs[0]!.bytesFreed > 0, JSON.stringify(runs[0]));
    // Pushes and pulls per day, and the bytes stored today: what the charts draw.
    const activity = (await call('activity?days=3', 'alice')).json<{ days: Array<{ day: string; pushes: number; pulls: number; storedBytes: number | null }> }>().days;
    assert.deepEqual(activity.map((d) => d.day), [2, 1, 0].map((n) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)));
    const today = activity[2]!;
    assert.ok(today.pushes >= 17, `pushes today: ${today.pushes} (every manifest PUT of the set-up)`);
    assert.ok(today.pulls >= 1, `pulls today: ${today.pulls}`);
    assert.ok(today.storedBytes !== null && today.storedBytes >= 50_000, `stored today: ${today.storedBytes}`);
    assert.equal((await call('activity?days=0', 'alice')).status, 400);
    const users = (await call('users', 'alice')).json<{ users: Array<{ user: string; admin: boolean }> }>();
    assert.deepEqual(users.users.map((u) => [u.user, u.admin]), [['alice', true], ['dev', false], ['viewer', false]]);
  });
});

describe('admin API: OpenAPI document and the UI files', () => {
  it('serves an OpenAPI document that describes exactly the route table, and every documented operation answers', async () => {
    const res = await call('openapi.json', 'anon');
    assert.equal(res.status, 200);
    const doc = res.json<{ openapi: string; paths: Record<string, Record<string, { operationId: string }>> }>();
    assert.equal(doc.openapi, '3.1.0');
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).filter((k) => k !== 'parameters').map((method) => ({ path, method: method.toUpperCase() })),
    );
    const table = ADMIN_ROUTES.flatMap((r) => Object.keys(r.methods).map((method) => ({ path: `/pier/api/v1/${r.path}`, method })));
    const key = (e: { path: string; method: string }): string => `${e.method} ${e.path}`;
    assert.deepEqual(documented.map(key).sort(), table.map(key).sort());
    for (const op of documented) {
      const concrete = op.path.slice(API.length).replace('{name}', 'team/app').replace('{reference}', '1.0').replace('{tag}', 'x').replace('{id}', '0123456789abcdef');
      const match = matchAdminRoute(op.method, concrete);
      assert.equal(match.kind, 'found', `${key(op)} matches its own route`);
      if (op.method !== 'GET') continue; // the changes are each called in the authorisation test
      const answer = await call(concrete, 'alice');
      assert.ok(!/no such admin endpoint/.test(answer.text()), `${key(op)} is served: ${answer.status} ${answer.text()}`);
    }
  });

  it('serves the UI at the configured path with a strict CSP, and nothing at /', async () => {
    const page = await send(`${pier.url}/ui/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.text())?.[1];
    assert.ok(script, 'index.html loads a built script from this origin');
    const asset = await send(`${pier.url}/ui/${script}`);
    assert.equal(asset.status, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    assert.equal((await send(`${pier.url}/ui`)).status, 308);
    assert.equal((await send(`${pier.url}/`)).status, 404);
    assert.equal((await send(`${pier.url}/ui/../../etc/passwd`)).status, 404);
    assert.equal((await send(`${pier.url}/healthz`)).status, 200, 'operational endpoints are untouched');
  });
});
