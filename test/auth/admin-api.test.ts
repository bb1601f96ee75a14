/**
 * The admin API under /pier/api/v1/: authentication as on /v2 (Basic with a password or an API token, bearer
 * tokens from Pier's /token), users managing their own API tokens and admins everyone's, the spec's error
 * body, usage matching the bytes pushed (and the quota enforcement's own figure) with limits from
 * lifecycle.quotas, `pier usage` printing the same; and, without authentication, answers only to local calls.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfigOrThrow } from '../../src/config/load.ts';
import { settingsFromConfig } from '../../src/config/serve-settings.ts';
import { startServer, type RunningServer } from '../../src/main/start-server.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { basic, childEnv, makeSigningKey, memoryLogger, send, spawnPier, tempDir, writeHtpasswd, type Reply, type RequestOptions } from './fixtures.ts';

const API = '/pier/api/v1';
const SERVICE = 'pier.admin.test';
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Started {
  running: RunningServer;
  url: string;
  close(): Promise<void>;
}

/** Starts Pier from config.yml text as `pier serve` would (quotas included), on a loopback address by default. */
async function start(yaml: string, dataDir: string, logger: Logger, addr = '127.0.0.1:0'): Promise<Started> {
  const { config, notices } = loadConfigOrThrow({ text: yaml, file: 'config.yml', env: {}, flags: { addr, data: dataDir } });
  const settings = settingsFromConfig(config, notices);
  const authConfigured = config.auth.htpasswd !== undefined || config.auth.token !== undefined;
  const running = await startServer({
    dataDir,
    listen: settings.listen,
    logger,
    registry: { deleteEnabled: settings.deleteEnabled, quotas: settings.quotas, immutableTags: settings.immutableTags },
    drainTimeoutMs: 2000,
    ...(authConfigured ? { access: { auth: config.auth, access: config.access, htpasswdOptions: { checkIntervalMs: 0 } } } : {}),
  });
  return { running, url: `http://127.0.0.1:${running.port}`, close: () => running.close() };
}

/** Pushes a one-layer image whose layer is `layer`; returns the bytes of the blobs it linked. */
async function pushWith(url: string, repo: string, tag: string, layer: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; blobBytes: number; body: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const blob of [layer, config]) {
    const res = await send(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob, headers: { ...headers, 'Content-Type': 'application/octet-stream' } });
    if (res.status !== 201) return { status: res.status, blobBytes: 0, body: res.text() };
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
  });
  const res = await send(`${url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { ...headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  return { status: res.status, blobBytes: layer.length + config.length, body: res.text() };
}

type ErrorBody = { errors: Array<{ code: string; message: string; detail: unknown }> };
interface TokenJson {
  id: string;
  user: string;
  name: string;
  scope: Array<{ repositories: string[]; actions: string[] }>;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  token?: string;
}
interface UsageJson {
  repository?: string;
  namespace?: string;
  usage: number;
  limit: number | null;
  quotas: Array<{ repository?: string; namespace?: string; usage: number; limit: number }>;
}

describe('admin API with authentication', { timeout: 120_000 }, () => {
  let dir: string;
  let dataDir: string;
  let configText: string;
  let pier: Started;
  let log: ReturnType<typeof memoryLogger>;
  const passwords: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw', robot: 'robot-pw' };
  const secrets: string[] = [];
  const bytes: Record<string, number> = {};
  let shared: Buffer;

  before(async () => {
    dir = tempDir('admin-api');
    dataDir = join(dir, 'data');
    const signing = makeSigningKey(dir, 'signing');
    await writeHtpasswd(join(dir, 'htpasswd'), passwords);
    configText = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      'auth:',
      '  htpasswd:',
      '    realm: pier-admin',
      `    path: ${join(dir, 'htpasswd')}`,
      '  token:',
      '    realm: https://registry.invalid/token',
      '    autoredirect: true',
      '    autoredirectpath: /token',
      `    service: ${SERVICE}`,
      '    issuer: pier-admin-issuer',
      `    signingkey: ${signing.key}`,
      'access:',
      '  loginlimit:',
      '    maxfailures: 1000',
      '  policy:',
      '    admins: [alice]',
      '    namespaces: true',
      '    rules:',
      '      - repositories: ["team/**"]',
      '        users: [robot]',
      '        actions: [pull, push]',
      'lifecycle:',
      '  quotas:',
      '    - repository: team/app',
      '      limit: 300000',
      '    - namespace: team',
      '      limit: 5MB',
      '',
    ].join('\n');
    writeFileSync(join(dir, 'config.yml'), configText);
    log = memoryLogger('debug');
    pier = await start(configText, dataDir, log.logger);

    const alice = { Authorization: basic('alice', passwords.alice!) };
    shared = randomBytes(100_000);
    for (const [repo, layer] of [
      ['team/app', shared],
      ['team/tools/x', shared],
      ['team/other', randomBytes(50_000)],
    ] as const) {
      const pushed = await pushWith(pier.url, repo, '1', layer, alice);
      assert.equal(pushed.status, 201, `${repo}: ${pushed.body}`);
      bytes[repo] = pushed.blobBytes;
    }
    const bob = await pushWith(pier.url, 'bob/app', '1', randomBytes(10_000), { Authorization: basic('bob', passwords.bob!) });
    assert.equal(bob.status, 201);
    bytes['bob/app'] = bob.blobBytes;
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const as = (user: string, password = passwords[user]!): Record<string, string> => ({ Authorization: basic(user, password) });
  const api = (path: string, options: RequestOptions = {}): Promise<Reply> => send(`${pier.url}${API}${path}`, options);
  const post = (headers: Record<string, string>, body: unknown): Promise<Reply> =>
    api('/tokens', { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const errorOf = (res: Reply): { code: string; message: string } => res.json<ErrorBody>().errors[0]!;

  async function create(headers: Record<string, string>, body: Record<string, unknown>): Promise<TokenJson & { token: string }> {
    const res = await post(headers, body);
    assert.equal(res.status, 201, res.text());
    const created = res.json<TokenJson & { token: string }>();
    secrets.push(created.token);
    assert.equal(res.headers.location, `${API}/tokens/${created.id}`);
    assert.equal(res.headers['cache-control'], 'no-store');
    return created;
  }

  it('asks for credentials with the spec error body; knows its routes and methods', async () => {
    const anonymous = await api('/tokens');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Basic realm="pier-admin"');
    assert.deepEqual(anonymous.json(), { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
    const wrong = await api('/tokens', { headers: as('bob', 'not-it') });
    assert.equal(wrong.status, 401);
    assert.equal(errorOf(wrong).code, 'UNAUTHORIZED');
    const unknown = await api('/nothing', { headers: as('alice') });
    assert.equal(unknown.status, 404);
    assert.equal(errorOf(unknown).code, 'NOT_FOUND');
    const method = await api('/usage', { method: 'POST', headers: as('alice') });
    assert.equal(method.status, 405);
    assert.equal(method.headers.allow, 'GET');
    assert.equal(errorOf(method).code, 'UNSUPPORTED');
  });

  it('lets a user create, see and revoke their own tokens, and nobody else’s', async () => {
    const mine = await create(as('bob'), { name: 'bob-ci', scope: [{ repositories: ['bob/**'], actions: ['pull', 'push'] }], expiresIn: '30d' });
    assert.match(mine.token, /^pier_[0-9a-f]{16}_/);
    assert.equal(mine.user, 'bob');
    assert.ok(Date.parse(mine.expiresAt!) - Date.now() > 29 * 86_400_000);
    const pushed = await pushWith(pier.url, 'bob/ci', '1', randomBytes(1000), as('whatever', mine.token));
    assert.equal(pushed.status, 201, 'the token works on /v2');

    const list = await api('/tokens', { headers: as('bob') });
    assert.equal(list.status, 200);
    const tokens = list.json<{ tokens: TokenJson[] }>().tokens;
    assert.deepEqual(tokens.map((t) => t.name), ['bob-ci']);
    assert.ok(tokens[0]!.lastUsedAt, 'last use shown');
    assert.equal(tokens[0]!.token, undefined);
    assert.ok(!list.text().includes(mine.token.slice(22)) && !list.text().includes('secret'), 'no secret or hash');

    const aliceToken = await create(as('alice'), { name: 'alice-own', scope: [{ repositories: ['alice/**'], actions: ['pull'] }] });
    assert.equal((await api('/tokens?user=alice', { headers: as('bob') })).status, 403);
    const forOther = await post(as('bob'), { name: 'x', user: 'robot', scope: [{ repositories: ['team/**'], actions: ['pull'] }] });
    assert.equal(forOther.status, 403);
    assert.equal(errorOf(forOther).code, 'DENIED');
    assert.equal((await api(`/tokens/${aliceToken.id}`, { headers: as('bob') })).status, 404, "another user's token does not exist for bob");
    assert.equal((await api(`/tokens/${aliceToken.id}`, { method: 'DELETE', headers: as('bob') })).status, 404);

    assert.equal((await api(`/tokens/${mine.id}`, { headers: as('bob') })).json<TokenJson>().name, 'bob-ci');
    assert.equal((await api(`/tokens/${mine.id}`, { method: 'DELETE', headers: as('bob') })).status, 204);
    assert.equal((await pushWith(pier.url, 'bob/ci', '2', randomBytes(1000), as('bob', mine.token))).status, 401, 'revoked at once');
    assert.equal((await api(`/tokens/${mine.id}`, { headers: as('bob') })).status, 404);
  });

  it('lets an admin see, create and revoke everyone’s tokens', async () => {
    const robot = await create(as('alice'), { name: 'robot-ci', user: 'robot', scope: [{ repositories: ['team/app'], actions: ['pull', 'push'] }], expiresAt: '2099-01-01T00:00:00Z' });
    assert.equal(robot.user, 'robot');
    assert.equal(robot.expiresAt, '2099-01-01T00:00:00.000Z');
    const bobs = await create(as('bob'), { name: 'bob-second', scope: [{ repositories: ['bob/**'], actions: ['pull'] }] });

    const all = (await api('/tokens', { headers: as('alice') })).json<{ tokens: TokenJson[] }>().tokens;
    assert.ok(all.some((t) => t.id === robot.id) && all.some((t) => t.id === bobs.id));
    const robots = (await api('/tokens?user=robot', { headers: as('alice') })).json<{ tokens: TokenJson[] }>().tokens;
    assert.deepEqual(robots.map((t) => t.name), ['robot-ci']);

    assert.equal((await pushWith(pier.url, 'team/app', 'robot', shared, as('robot', robot.token))).status, 201);
    assert.equal((await api(`/tokens/${bobs.id}`, { method: 'DELETE', headers: as('alice') })).status, 204);
    assert.equal((await send(`${pier.url}/v2/`, { headers: as('bob', bobs.token) })).status, 401);
  });

  it('validates what it is given', async () => {
    const scope = [{ repositories: ['bob/**'], actions: ['pull'] }];
    const cases: Array<[unknown, number, RegExp]> = [
      [{ name: 'x', scope, user: 'nobody' }, 403, /only admins/],
      [{ scope }, 400, /name: required/],
      [{ name: 'has space', scope }, 400, /name:/],
      [{ name: 'x' }, 400, /scope/],
      [{ name: 'x', scope: [{ repositories: ['bob/**'], actions: ['write'] }] }, 400, /actions/],
      [{ name: 'x', scope, expiresIn: 'soon' }, 400, /expiry/],
      [{ name: 'x', scope, expiresAt: '2001-01-01' }, 400, /future/],
      [{ name: 'x', scope, expiresAt: '90d' }, 400, /ISO 8601/],
      [{ name: 'x', scope, expiresIn: '1d', expiresAt: '2099-01-01' }, 400, /not both/],
      [{ name: 'x', scope, extra: true }, 400, /unknown field "extra"/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(as('bob'), body);
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text()}`);
      assert.match(errorOf(res).message, message);
      assert.equal(errorOf(res).code, status === 400 ? 'INVALID_REQUEST' : 'DENIED');
    }
    const noUser = await post(as('alice'), { name: 'x', scope, user: 'nobody' });
    assert.equal(noUser.status, 400);
    assert.match(errorOf(noUser).message, /no user "nobody"/);
    await create(as('bob'), { name: 'dup', scope });
    const dup = await post(as('bob'), { name: 'dup', scope });
    assert.equal(dup.status, 409);
    assert.equal(errorOf(dup).code, 'CONFLICT');
    const form = await api('/tokens', { method: 'POST', headers: { ...as('bob'), 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'name=x' });
    assert.equal(form.status, 400, 'a cross-site form cannot create tokens');
    const broken = await api('/tokens', { method: 'POST', headers: { ...as('bob'), 'Content-Type': 'application/json' }, body: '{' });
    assert.equal(broken.status, 400);
    assert.match(errorOf(broken).message, /not valid JSON/);
  });

  it('an API token may read usage and see or revoke itself, but not list or mint tokens', async () => {
    const robot = await create(as('alice'), { name: 'robot-self', user: 'robot', scope: [{ repositories: ['team/app'], actions: ['pull'] }] });
    const headers = as('robot', robot.token);
    assert.equal((await api('/tokens', { headers })).status, 403);
    const mint = await post(headers, { name: 'more', scope: [{ repositories: ['**'], actions: ['*'] }] });
    assert.equal(mint.status, 403);
    assert.match(errorOf(mint).message, /API token cannot/);
    assert.equal((await api('/usage?repository=team/app', { headers })).status, 200);
    assert.equal((await api('/usage?repository=team/other', { headers })).status, 403, 'outside its scope');
    assert.equal((await api('/usage?namespace=team', { headers })).status, 403);
    assert.equal((await api(`/tokens/${robot.id}`, { headers })).json<TokenJson>().name, 'robot-self');
    assert.equal((await api(`/tokens/${robot.id}`, { method: 'DELETE', headers })).status, 204);
    assert.equal((await api('/usage?repository=team/app', { headers })).status, 401);
  });

  it('accepts bearer tokens from its /token: as the user, or as the API token they were issued for', async () => {
    const login = await send(`${pier.url}/token?service=${SERVICE}`, { headers: as('bob') });
    const jwt = login.json<{ token: string }>().token;
    const list = await api('/tokens', { headers: { Authorization: `Bearer ${jwt}` } });
    assert.equal(list.status, 200);
    assert.ok(list.json<{ tokens: TokenJson[] }>().tokens.every((t) => t.user === 'bob'));

    const robot = await create(as('alice'), { name: 'robot-jwt', user: 'robot', scope: [{ repositories: ['team/app'], actions: ['pull'] }] });
    const viaToken = (await send(`${pier.url}/token?service=${SERVICE}`, { headers: as('robot', robot.token) })).json<{ token: string }>().token;
    assert.equal((await api('/tokens', { headers: { Authorization: `Bearer ${viaToken}` } })).status, 403, 'still an API token');
    assert.equal((await api('/usage?repository=team/app', { headers: { Authorization: `Bearer ${viaToken}` } })).status, 200);
    assert.equal((await api('/tokens', { headers: { Authorization: 'Bearer not.a.token' } })).status, 401);
  });

  it('reports usage as the bytes pushed, each blob once per scope, with the quota limits', async () => {
    const repo = await api('/usage?repository=team/app', { headers: as('alice') });
    assert.equal(repo.status, 200, repo.text());
    const report = repo.json<UsageJson>();
    assert.equal(report.repository, 'team/app');
    assert.equal(report.usage, bytes['team/app'], 'layer + config pushed');
    assert.equal(report.limit, 300_000);
    const teamTotal = bytes['team/app']! + bytes['team/other']!; // team/tools/x shares team/app's blobs
    assert.deepEqual(report.quotas, [
      { repository: 'team/app', usage: bytes['team/app'], limit: 300_000 },
      { namespace: 'team', usage: teamTotal, limit: 5_000_000 },
    ]);

    const ns = (await api('/usage?namespace=team', { headers: as('alice') })).json<UsageJson>();
    assert.deepEqual(ns, { namespace: 'team', usage: teamTotal, limit: 5_000_000, quotas: [{ namespace: 'team', usage: teamTotal, limit: 5_000_000 }] });
    const bob = (await api('/usage?repository=bob/app', { headers: as('bob') })).json<UsageJson>();
    assert.deepEqual(bob, { repository: 'bob/app', usage: bytes['bob/app'], limit: null, quotas: [] });

    // Quota enforcement sees the same figure.
    const big = randomBytes(250_000);
    const refused = await pushWith(pier.url, 'team/app', 'big', big, as('alice'));
    assert.equal(refused.status, 403);
    const detail = (JSON.parse(refused.body) as { errors: Array<{ detail: { usage: number; limit: number } }> }).errors[0]!.detail;
    assert.deepEqual({ usage: detail.usage, limit: detail.limit }, { usage: report.usage, limit: report.limit });

    // `pier usage` prints the same.
    const cli = spawnPier(['usage', '--config', join(dir, 'config.yml'), '--repository', 'team/app', '--json'], childEnv());
    assert.equal(await cli.exited, 0, cli.output());
    assert.deepEqual(JSON.parse(cli.output()), report);
    const all = spawnPier(['usage', '--config', join(dir, 'config.yml')], childEnv());
    assert.equal(await all.exited, 0, all.output());
    assert.match(all.output(), new RegExp(`^${bytes['team/app']}\\t300000\\tteam/app$`, 'm'));
    assert.match(all.output(), new RegExp(`^${bytes['bob/app']}\\t-\\tbob/app$`, 'm'));
  });

  it('shows usage only to who may see it', async () => {
    const check = async (user: string, query: string, status: number, code?: string): Promise<void> => {
      const res = await api(`/usage?${query}`, { headers: as(user) });
      assert.equal(res.status, status, `${user} ${query}: ${res.text()}`);
      if (code) assert.equal(errorOf(res).code, code);
    };
    await check('bob', 'repository=team/app', 403, 'DENIED');
    await check('bob', 'namespace=team', 403, 'DENIED');
    await check('bob', 'namespace=bob', 200);
    await check('robot', 'repository=team/app', 200);
    await check('robot', 'repository=bob/app', 403);
    await check('alice', 'repository=nope/none', 404, 'NAME_UNKNOWN');
    await check('alice', 'repository=Not_Valid', 400, 'NAME_INVALID');
    await check('alice', 'namespace=a/b', 400, 'NAME_INVALID');
    await check('alice', '', 400, 'INVALID_REQUEST');
    await check('alice', 'repository=team/app&namespace=team', 400, 'INVALID_REQUEST');
  });

  it('never logs a secret', () => {
    const text = log.text();
    assert.ok(secrets.length >= 5);
    for (const secret of secrets) assert.ok(!text.includes(secret.slice(22)), 'a token secret is in the log');
    assert.doesNotMatch(text, /Basic [A-Za-z0-9+/=]{8,}/);
    assert.match(text, /API token created/);
    assert.match(text, /API token revoked/);
  });
});

describe('admin API without authentication', { timeout: 60_000 }, () => {
  let dir: string;
  let pier: Started;
  let port: number;

  before(async () => {
    dir = tempDir('admin-open');
    pier = await start('version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /unused\n', join(dir, 'data'), createLogger('silent'), '0.0.0.0:0');
    port = pier.running.port;
    assert.equal((await pushWith(pier.url, 'open/app', '1', randomBytes(5000))).status, 201);
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const local = (path: string, options: RequestOptions = {}) => send(`http://127.0.0.1:${port}${API}${path}`, options);

  it('answers a local call as an admin', async () => {
    const usage = await local('/usage?repository=open/app');
    assert.equal(usage.status, 200, usage.text());
    assert.ok(usage.json<UsageJson>().usage > 5000);
    assert.equal((await send(`http://localhost:${port}${API}/usage?namespace=open`)).status, 200);
    const noUser = await local('/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'x', scope: [{ repositories: ['a'], actions: ['pull'] }] }) });
    assert.equal(noUser.status, 400);
    assert.match(noUser.json<ErrorBody>().errors[0]!.message, /user: required/);
    const created = await local('/tokens', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'early', user: 'robot', scope: [{ repositories: ['open/**'], actions: ['pull'] }] }) });
    assert.equal(created.status, 201, created.text());
    assert.deepEqual((await local('/tokens')).json<{ tokens: TokenJson[] }>().tokens.map((t) => t.name), ['early']);
  });

  it('refuses 403 with a clear message when the call is relayed, rebound or from a web page', async () => {
    const cases: Array<Record<string, string>> = [{ 'X-Forwarded-For': '203.0.113.9' }, { Forwarded: 'for=203.0.113.9' }, { Host: 'registry.example.com' }, { Host: 'attacker.example:80' }, { Origin: 'https://attacker.example' }];
    for (const headers of cases) {
      const res = await local('/usage?repository=open/app', { headers });
      assert.equal(res.status, 403, JSON.stringify(headers));
      const error = res.json<ErrorBody>().errors[0]!;
      assert.equal(error.code, 'DENIED');
      assert.match(error.message, /admin API needs authentication.*loopback/);
    }
  });

  it('refuses a caller on another address', async (t) => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!address) {
      t.skip('this machine has no non-loopback IPv4 address');
      return;
    }
    // Even naming a loopback Host, a connection from outside 127.0.0.0/8 is not local.
    const res = await send(`http://${address}:${port}${API}/usage?repository=open/app`, { headers: { Host: `127.0.0.1:${port}` } });
    assert.equal(res.status, 403);
    assert.equal(res.json<ErrorBody>().errors[0]!.code, 'DENIED');
  });
});
