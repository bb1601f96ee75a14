/**
 * API tokens for CI robots: the token service object over the SQLite store (secret shown once, only a hash kept,
 * constant-time check, expiry, revocation, last use), `pier token create|list|revoke` on a data directory, and
 * real use — Basic credentials on /v2 (any user name) limited to the intersection of scope and policy, the
 * built-in /token service issuing JWTs for an API token (GET and the OAuth2 password grant), skopeo pushing with
 * `--dest-creds user:<token>` over TLS where the scope allows and refused elsewhere, revoked, expired and
 * orphaned tokens refused, and no secret in the log.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { ApiTokens, intersectActions, looksLikeApiToken, parseExpiry, parseScopeArgument, scopeActions, validateScope } from '../../src/auth/api-tokens/api-tokens.ts';
import { SqliteApiTokenStore } from '../../src/auth/api-tokens/sqlite-api-token-store.ts';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { requireTools } from '../support/tools.ts';
import {
  basic,
  childEnv,
  makePki,
  makeSigningKey,
  memoryLogger,
  pushImage,
  send,
  spawnPier,
  startFromConfig,
  tempDir,
  writeHtpasswd,
  type InProcessPier,
} from './fixtures.ts';

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Runs `pier token …` against a data directory; returns stdout (throws with the output on failure). */
async function pierToken(args: string[]): Promise<string> {
  const child = spawnPier(['token', ...args], childEnv());
  let stdout = '';
  child.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  const code = await child.exited;
  if (code !== 0) throw new Error(`pier token ${args.join(' ')} exited ${code}:\n${child.output()}`);
  return stdout;
}

describe('API tokens: the service and its SQLite store', () => {
  let dir: string;
  before(() => {
    dir = tempDir('api-token-units');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('shows the secret once, keeps only its SHA-256, and checks it', async () => {
    const file = join(dir, 'index.db');
    await new SqliteIndex(file).close();
    const store = SqliteApiTokenStore.open(file);
    const tokens = new ApiTokens(store);
    const { secret, token } = await tokens.create({ user: 'robot', name: 'ci', scope: [{ repositories: ['team/**'], actions: ['pull', 'push'] }] });
    assert.match(secret, /^pier_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.ok(looksLikeApiToken(secret));
    assert.equal(secret.slice(5, 21), token.id);
    assert.equal(token.expiresAt, undefined);

    const check = await tokens.verify(secret);
    assert.ok(check.ok);
    assert.equal(check.token.user, 'robot');
    assert.ok(check.token.lastUsedAt, 'the use is recorded');
    assert.ok(!('secretHash' in check.token), 'the public view carries no hash');

    // Same id, another secret: refused (the hash decides, not the id).
    const forged = `${secret.slice(0, 22)}${secret.slice(22).split('').reverse().join('')}`;
    assert.deepEqual(await tokens.verify(forged), { ok: false, reason: 'unknown or revoked API token', id: token.id });
    assert.equal((await tokens.verify('pier_0000000000000000_' + 'A'.repeat(43))).ok, false);
    assert.equal((await tokens.verify('not a token')).ok, false);

    const listed = await tokens.list('robot');
    assert.equal(listed.length, 1);
    assert.ok(!JSON.stringify(listed).includes(secret.slice(22)));
    await store.close();

    // On disk: the hash, never the secret (the WAL included).
    const hash = (await import('node:crypto')).createHash('sha256').update(secret).digest('hex');
    const bytes = Buffer.concat(readdirSync(dir).filter((f) => f.startsWith('index.db')).map((f) => readFileSync(join(dir, f))));
    assert.ok(bytes.includes(Buffer.from(hash)), 'the hash is stored');
    assert.ok(!bytes.includes(Buffer.from(secret.slice(22))), 'the secret is not');
  });

  it('refuses duplicate names per user, bad scopes and past expiry; expires and revokes', async () => {
    let now = new Date('2030-01-01T00:00:00Z');
    const db = new Database(':memory:');
    const tokens = new ApiTokens(new SqliteApiTokenStore(db), () => now);
    const scope = [{ repositories: ['a/*'], actions: ['pull'] }];
    const first = await tokens.create({ user: 'u', name: 'n', scope, expiresAt: new Date('2030-01-02T00:00:00Z') });
    await assert.rejects(tokens.create({ user: 'u', name: 'n', scope }), /already has a token named n/);
    await tokens.create({ user: 'v', name: 'n', scope }); // another user may use the name
    await assert.rejects(tokens.create({ user: 'u', name: 'x', scope, expiresAt: new Date('2029-12-31T00:00:00Z') }), /must be in the future/);
    await assert.rejects(tokens.create({ user: 'u', name: 'bad name', scope }), /name:/);
    await assert.rejects(tokens.create({ user: 'u:x', name: 'y', scope }), /user:/);
    for (const bad of [[], [{ repositories: [], actions: ['pull'] }], [{ repositories: ['A'], actions: ['pull'] }], [{ repositories: ['a'], actions: ['write'] }], [{ repositories: ['a'], actions: ['pull'], extra: 1 }], 'x']) {
      assert.throws(() => validateScope(bad), /scope/, JSON.stringify(bad));
    }

    assert.ok((await tokens.verify(first.secret)).ok);
    const used = (await tokens.get(first.token.id))!.lastUsedAt!;
    now = new Date(now.getTime() + 30_000);
    assert.ok((await tokens.verify(first.secret)).ok);
    assert.equal((await tokens.get(first.token.id))!.lastUsedAt!.getTime(), used.getTime(), 'not rewritten within a minute');
    now = new Date(now.getTime() + 60_000);
    assert.ok((await tokens.verify(first.secret)).ok);
    assert.equal((await tokens.get(first.token.id))!.lastUsedAt!.getTime(), now.getTime(), 'rewritten after a minute');

    assert.equal((await tokens.stillValid(first.token.id, 'u')).ok, true);
    assert.equal((await tokens.stillValid(first.token.id, 'v')).ok, false, 'another subject');
    now = new Date('2030-01-02T00:00:00Z');
    assert.deepEqual(await tokens.verify(first.secret), { ok: false, reason: 'API token expired', id: first.token.id });
    assert.equal((await tokens.stillValid(first.token.id, 'u')).ok, false);

    assert.equal(await tokens.revoke(first.token.id), true);
    assert.equal(await tokens.revoke(first.token.id), false);
    assert.equal((await tokens.list('u')).length, 0);
    db.close();
  });

  it('scopes: patterns and actions, intersected with the policy', () => {
    const scope = [parseScopeArgument('team/**,base/*:pull,push'), parseScopeArgument('ops/deploy:*')];
    assert.deepEqual(scope[0], { repositories: ['team/**', 'base/*'], actions: ['pull', 'push'] });
    assert.deepEqual([...scopeActions(scope, 'repository', 'team/a/b')], ['pull', 'push']);
    assert.deepEqual([...scopeActions(scope, 'repository', 'base/img')], ['pull', 'push']);
    assert.deepEqual([...scopeActions(scope, 'repository', 'base/img/sub')], []);
    assert.deepEqual([...scopeActions(scope, 'repository', 'ops/deploy')].sort(), ['delete', 'pull', 'push']);
    assert.deepEqual([...scopeActions(scope, 'registry', 'catalog')], ['*']);
    assert.deepEqual([...intersectActions(new Set(['pull']), new Set(['pull', 'push']))], ['pull']);
    assert.deepEqual([...intersectActions(new Set(['*']), new Set(['push']))], ['push']);
    assert.throws(() => parseScopeArgument('team/**'), /expected PATTERN/);
    const now = new Date('2030-01-01T00:00:00Z');
    assert.equal(parseExpiry('90d', now)!.toISOString(), '2030-04-01T00:00:00.000Z');
    assert.equal(parseExpiry('1h30m', now)!.toISOString(), '2030-01-01T01:30:00.000Z');
    assert.equal(parseExpiry('2031-02-03', now)!.toISOString(), '2031-02-03T00:00:00.000Z');
    assert.equal(parseExpiry('never', now), undefined);
    assert.throws(() => parseExpiry('soon', now), /neither a duration/);
  });

  it('adds its table to an index made before it existed, and survives a reindex (clear)', async () => {
    const file = join(dir, 'old.db');
    const index = new SqliteIndex(file);
    await index.close();
    const raw = new Database(file);
    raw.exec('DROP TABLE api_tokens');
    raw.close();
    const store = SqliteApiTokenStore.open(file);
    const { secret } = await new ApiTokens(store).create({ user: 'u', name: 'n', scope: [{ repositories: ['a'], actions: ['pull'] }] });
    const reopened = new SqliteIndex(file);
    await reopened.clear();
    await reopened.close();
    assert.ok((await new ApiTokens(store).verify(secret)).ok, 'pier reindex keeps API tokens');
    await store.close();
  });
});

describe('API tokens as Basic credentials on /v2, managed with pier token', { timeout: 120_000 }, () => {
  let dir: string;
  let pier: InProcessPier;
  let log: ReturnType<typeof memoryLogger>;
  const passwords: Record<string, string> = { alice: 'alice-pw', robot: 'robot-pw', bob: 'bob-pw' };
  const secrets: string[] = [];
  let robotToken: string;
  let robotId: string;
  let wideToken: string;
  let bobToken: string;
  let unusedId: string;
  const data = (): string[] => ['--data', pier.dataDir];

  const htpasswdLines = (): string[] => ['auth:', '  htpasswd:', '    realm: pier-tokens', `    path: ${join(dir, 'htpasswd')}`];

  before(async () => {
    dir = tempDir('api-tokens');
    await writeHtpasswd(join(dir, 'htpasswd'), passwords);
    log = memoryLogger('debug');
    const config = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /unused',
      ...htpasswdLines(),
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
      '      - repositories: ["shared/**"]',
      '        users: ["*"]',
      '        actions: [pull]',
      '',
    ].join('\n');
    pier = await startFromConfig(config, { logger: log.logger });
    for (const repo of ['team/app', 'shared/base', 'secret/thing']) {
      assert.equal((await pushImage(pier.url, repo, '1', { headers: { Authorization: basic('alice', passwords.alice!) } })).status, 201, repo);
    }
    const create = async (...args: string[]): Promise<string> => {
      const secret = (await pierToken(['create', ...data(), ...args])).trim();
      assert.match(secret, /^pier_[0-9a-f]{16}_/);
      secrets.push(secret);
      return secret;
    };
    robotToken = await create('--user', 'robot', '--name', 'ci', '--scope', 'team/app:pull,push', '--scope', 'shared/**:pull');
    robotId = robotToken.slice(5, 21);
    wideToken = await create('--user', 'robot', '--name', 'wide', '--scope', '**:*');
    bobToken = await create('--user', 'bob', '--name', 'bob-ci', '--scope', 'team/**:pull,push');
    unusedId = (await create('--user', 'bob', '--name', 'unused', '--scope', 'bob/**:pull')).slice(5, 21);
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const as = (user: string, password: string) => ({ headers: { Authorization: basic(user, password), Accept: MANIFEST } });
  const pull = (repo: string, user: string, password: string) => send(`${pier.url}/v2/${repo}/manifests/1`, as(user, password));
  const push = (repo: string, user: string, password: string, tag = 'tok') => pushImage(pier.url, repo, tag, as(user, password), `${repo}-${tag}`);

  it('pushes and pulls within the scope, and nowhere else, even where the policy would allow', async () => {
    assert.equal((await push('team/app', 'robot', robotToken)).status, 201, 'scope and policy allow team/app');
    assert.equal((await pull('team/app', 'robot', robotToken)).status, 200);
    assert.equal((await pull('shared/base', 'robot', robotToken)).status, 200);

    const outside = await push('team/other', 'robot', robotToken);
    assert.equal(outside.status, 403, 'the policy allows team/**, the scope only team/app');
    const own = await push('robot/own', 'robot', robotToken);
    assert.equal(own.status, 403, 'the policy gives robot its namespace, the scope does not');
    const denied = await send(`${pier.url}/v2/shared/base/blobs/uploads/`, { ...as('robot', robotToken), method: 'POST' });
    assert.equal(denied.status, 403);
    assert.equal(denied.json<{ errors: Array<{ code: string }> }>().errors[0]!.code, 'DENIED');
    assert.equal((await pull('secret/thing', 'robot', robotToken)).status, 403);
    // The robot's own password still has the policy's full rights.
    assert.equal((await push('team/other', 'robot', passwords.robot!)).status, 201);
  });

  it('never gives more than the policy allows its owner', async () => {
    assert.equal((await push('team/wide', 'robot', wideToken)).status, 201);
    assert.equal((await pull('secret/thing', 'robot', wideToken)).status, 403, 'scope ** but the policy says no');
    assert.equal((await push('shared/base', 'robot', wideToken)).status, 403, 'the policy gives only pull on shared/**');
    assert.equal((await pull('team/app', 'bob', bobToken)).status, 403, 'bob may not touch team/**, whatever his token says');
    assert.equal((await pull('shared/base', 'bob', bobToken)).status, 403, 'the scope does not cover shared/**');
  });

  it('accepts any user name with the token, and acts as its owner', async () => {
    assert.equal((await pull('team/app', 'ci-runner', robotToken)).status, 200);
    assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: basic('x', robotToken) } })).status, 200);
  });

  it('filters the catalog to what the token may pull', async () => {
    const res = await send(`${pier.url}/v2/_catalog`, as('robot', robotToken));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json<{ repositories: string[] }>().repositories, ['shared/base', 'team/app']);
  });

  it('refuses a wrong secret, and a token whose owner is gone', async () => {
    const wrong = `${robotToken.slice(0, 22)}${'A'.repeat(43)}`;
    const res = await pull('team/app', 'robot', wrong);
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Basic realm="pier-tokens"');
    assert.match(log.text(), new RegExp(`"tokenId":"${robotId}".*API token refused`));

    const { robot: _robot, ...others } = passwords;
    await writeHtpasswd(join(dir, 'htpasswd'), others);
    assert.equal((await pull('team/app', 'robot', robotToken)).status, 401, 'removing the user ends its tokens');
    await writeHtpasswd(join(dir, 'htpasswd'), passwords);
    assert.equal((await pull('team/app', 'robot', robotToken)).status, 200, 'and restoring it restores them');
  });

  it('lists tokens with their last use and never a secret; revokes them', async () => {
    const listed = JSON.parse(await pierToken(['list', ...data(), '--json'])) as { tokens: Array<{ id: string; user: string; name: string; lastUsedAt: string | null; scope: unknown }> };
    assert.deepEqual(listed.tokens.map((t) => `${t.user}/${t.name}`), ['bob/bob-ci', 'bob/unused', 'robot/ci', 'robot/wide']);
    const text = JSON.stringify(listed) + (await pierToken(['list', ...data()]));
    for (const secret of secrets) assert.ok(!text.includes(secret.slice(22)), 'no secret in the listing');
    assert.ok(listed.tokens.find((t) => t.id === robotId)!.lastUsedAt, 'last use recorded');
    assert.equal(listed.tokens.find((t) => t.id === unusedId)!.lastUsedAt, null);
    assert.deepEqual(listed.tokens.find((t) => t.id === robotId)!.scope, [
      { repositories: ['team/app'], actions: ['pull', 'push'] },
      { repositories: ['shared/**'], actions: ['pull'] },
    ]);

    assert.match(await pierToken(['revoke', ...data(), robotId]), /revoked API token/);
    assert.equal((await pull('team/app', 'robot', robotToken)).status, 401, 'refused at once');
    await assert.rejects(pierToken(['revoke', ...data(), robotId]), /no API token/);
    await assert.rejects(pierToken(['create', ...data(), '--user', 'robot', '--name', 'wide', '--scope', 'a:pull']), /already has a token named wide/);
  });

  it('refuses an expired token', async () => {
    const secret = (await pierToken(['create', ...data(), '--user', 'robot', '--name', 'short', '--scope', 'team/app:pull', '--expires', '2s'])).trim();
    secrets.push(secret);
    assert.equal((await pull('team/app', 'robot', secret)).status, 200);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await pull('team/app', 'robot', secret)).status, 401);
    assert.match(log.text(), /API token expired/);
  });

  it('checks the user against the htpasswd file when given the configuration', async () => {
    const config = join(dir, 'config.yml');
    writeFileSync(config, ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${pier.dataDir}`, ...htpasswdLines(), ''].join('\n'));
    await assert.rejects(pierToken(['create', '--config', config, '--user', 'nobody', '--name', 'x', '--scope', 'a:pull']), /no user nobody/);
    const secret = (await pierToken(['create', '--config', config, '--user', 'bob', '--name', 'from-config', '--scope', 'bob/**:pull,push'])).trim();
    secrets.push(secret);
    assert.equal((await push('bob/app', 'bob', secret)).status, 201);
  });

  it('never writes a token or Basic credentials carrying one into the log', () => {
    const text = log.text();
    for (const secret of secrets) {
      assert.ok(!text.includes(secret.slice(22)), 'log holds a token secret');
      assert.ok(!text.includes(Buffer.from(`robot:${secret}`).toString('base64').slice(0, 40)));
    }
    assert.doesNotMatch(text, /Basic [A-Za-z0-9+/=]{8,}/);
  });
});

describe('API tokens at the built-in token service', { timeout: 60_000 }, () => {
  let dir: string;
  let pier: InProcessPier;
  let log: ReturnType<typeof memoryLogger>;
  const SERVICE = 'pier.tokens.test';

  before(async () => {
    dir = tempDir('api-tokens-jwt');
    const signing = makeSigningKey(dir, 'signing');
    await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-pw', robot: 'robot-pw' });
    log = memoryLogger('debug');
    pier = await startFromConfig(
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        '    rootdirectory: /unused',
        'auth:',
        '  htpasswd:',
        `    path: ${join(dir, 'htpasswd')}`,
        '  token:',
        '    realm: https://registry.invalid/token',
        '    autoredirect: true',
        '    autoredirectpath: /token',
        `    service: ${SERVICE}`,
        '    issuer: pier-tokens-issuer',
        `    signingkey: ${signing.key}`,
        '    expiration: 10m',
        'access:',
        '  policy:',
        '    admins: [alice]',
        '    rules:',
        '      - repositories: ["team/**"]',
        '        users: [robot]',
        '        actions: [pull, push]',
        '',
      ].join('\n'),
      { logger: log.logger },
    );
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const tokenUrl = (...scopes: string[]): string => {
    const q = new URLSearchParams({ service: SERVICE, offline_token: 'true' });
    for (const s of scopes) q.append('scope', s);
    return `${pier.url}/token?${q}`;
  };

  it('issues a JWT for an API token: to its owner, within scope, policy and request, without a refresh token', async () => {
    const { secret, token } = await pier.running.apiTokens.create({ user: 'robot', name: 'ci', scope: [{ repositories: ['team/app', 'other/**'], actions: ['pull', 'push'] }] });
    const res = await send(tokenUrl('repository:team/app:pull,push,delete', 'repository:team/tools:pull', 'repository:other/x:pull'), { headers: { Authorization: basic('anyone', secret) } });
    assert.equal(res.status, 200, res.text());
    const body = res.json<{ token: string; refresh_token?: string; expires_in: number }>();
    assert.equal(body.refresh_token, undefined, 'no refresh token outlives a revocation');
    const claims = decodeJwt(body.token);
    assert.equal(claims.sub, 'robot');
    assert.equal(claims.pier_api_token, token.id);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }], 'delete: not asked in scope; team/tools: not in scope; other/x: not in policy');

    const pushed = await pushImage(pier.url, 'team/app', '1', { headers: { Authorization: `Bearer ${body.token}` } });
    assert.equal(pushed.status, 201);

    const form = new URLSearchParams({ grant_type: 'password', username: 'robot', password: secret, service: SERVICE, scope: 'repository:team/app:pull', access_type: 'offline' });
    const posted = await send(`${pier.url}/token`, { method: 'POST', body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(posted.status, 200, posted.text());
    const grant = posted.json<{ access_token: string; scope: string; refresh_token?: string }>();
    assert.equal(grant.scope, 'repository:team/app:pull');
    assert.equal(grant.refresh_token, undefined);

    // Revoking the API token ends the JWTs issued for it, and the next login.
    const bearer = { headers: { Authorization: `Bearer ${grant.access_token}`, Accept: MANIFEST } };
    assert.equal((await send(`${pier.url}/v2/team/app/manifests/1`, bearer)).status, 200);
    await pier.running.apiTokens.revoke(token.id);
    const refused = await send(`${pier.url}/v2/team/app/manifests/1`, bearer);
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /error="invalid_token"/);
    assert.equal((await send(tokenUrl('repository:team/app:pull'), { headers: { Authorization: basic('robot', secret) } })).status, 401);
    const regrant = await send(`${pier.url}/token`, { method: 'POST', body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(regrant.status, 400);
    assert.ok(!log.text().includes(secret.slice(22)));
  });

  it('never issues a JWT that outlives the API token', async () => {
    const expiresAt = new Date(Date.now() + 30_000);
    const { secret } = await pier.running.apiTokens.create({ user: 'robot', name: 'short', scope: [{ repositories: ['team/**'], actions: ['pull'] }], expiresAt });
    const res = await send(tokenUrl('repository:team/app:pull'), { headers: { Authorization: basic('robot', secret) } });
    assert.equal(res.status, 200);
    const { token, expires_in } = res.json<{ token: string; expires_in: number }>();
    assert.ok(expires_in <= 30, `expires_in ${expires_in}`);
    assert.ok(decodeJwt(token).exp! <= Math.floor(expiresAt.getTime() / 1000));
    // The robot's password login is unchanged: a full-length token and a refresh token.
    const password = await send(tokenUrl('repository:team/app:pull'), { headers: { Authorization: basic('robot', 'robot-pw') } });
    assert.equal(password.json<{ expires_in: number }>().expires_in, 600);
    assert.ok(password.json<{ refresh_token?: string }>().refresh_token);
  });
});

describe('skopeo with an API token over TLS', { timeout: 600_000 }, () => {
  let env: ClientEnv;
  let image: SmallImage;
  let dir: string;
  let certDir: string;
  let basicPier: InProcessPier;
  let tokenPier: InProcessPier;
  let outputs = 0;
  let log: ReturnType<typeof memoryLogger>;
  const STEP = { timeout: 180_000 };

  before(async () => {
    requireTools('skopeo', 'buildah', 'openssl');
    env = await createClientEnv('pier-api-tokens');
    image = await buildSmallImage(env);
    dir = tempDir('api-tokens-skopeo');
    const pki = makePki(dir);
    certDir = join(dir, 'client-certs');
    mkdirSync(certDir);
    copyFileSync(pki.caCert, join(certDir, 'ca.crt'));
    await writeHtpasswd(join(dir, 'htpasswd'), { robot: 'robot-secret-password' });
    const signing = makeSigningKey(dir, 'token-signing');
    const common = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /unused',
      'http:',
      '  tls:',
      `    certificate: ${pki.serverCert}`,
      `    key: ${pki.serverKey}`,
      'auth:',
      '  htpasswd:',
      '    realm: pier-skopeo',
      `    path: ${join(dir, 'htpasswd')}`,
    ];
    const policy = ['access:', '  policy:', '    namespaces: true', '    rules:', '      - repositories: ["ci/**"]', '        users: [robot]', '        actions: [pull, push]'];
    log = memoryLogger('debug');
    basicPier = await startFromConfig([...common, ...policy, ''].join('\n'), { logger: log.logger });
    tokenPier = await startFromConfig(
      [
        ...common,
        '  token:',
        '    realm: https://registry.invalid/token',
        '    autoredirect: true',
        '    autoredirectpath: /token',
        '    service: pier-skopeo',
        '    issuer: pier-skopeo-issuer',
        `    signingkey: ${signing.key}`,
        ...policy,
        '',
      ].join('\n'),
      { logger: log.logger },
    );
  }, { timeout: 240_000 });

  after(async () => {
    await basicPier?.close();
    await tokenPier?.close();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const host = (pier: InProcessPier): string => new URL(pier.url).host;

  async function skopeoCopy(src: string, dest: string, ...flags: string[]): Promise<string> {
    const digestFile = await env.path('out', `${++outputs}-digest`);
    await env.skopeo(['copy', '--quiet', '--digestfile', digestFile, ...flags, src, dest], { timeoutMs: 90_000 });
    return readFileSync(digestFile, 'utf8').trim();
  }

  for (const mode of ['Basic', 'token service'] as const) {
    it(`${mode}: pushes where the scope allows, is refused elsewhere, and after revocation`, STEP, async () => {
      const pier = mode === 'Basic' ? basicPier : tokenPier;
      const { secret, token } = await pier.running.apiTokens.create({ user: 'robot', name: 'skopeo', scope: [{ repositories: ['ci/app'], actions: ['pull', 'push'] }] });
      const creds = `robot:${secret}`;
      const ref = `docker://${host(pier)}/ci/app:1`;
      assert.equal(await skopeoCopy(image.ref, ref, '--dest-creds', creds, '--dest-cert-dir', certDir), image.digest);
      const inspected = JSON.parse((await env.skopeo(['inspect', '--creds', `ci-bot:${secret}`, '--cert-dir', certDir, ref])).stdout) as { Digest: string };
      assert.equal(inspected.Digest, image.digest, 'any user name works');

      await assert.rejects(
        skopeoCopy(image.ref, `docker://${host(pier)}/ci/other:1`, '--dest-creds', creds, '--dest-cert-dir', certDir),
        /denied|unauthorized|authentication required|401|403/i,
        'the policy allows ci/**, the token only ci/app',
      );
      await assert.rejects(
        skopeoCopy(image.ref, `docker://${host(pier)}/robot/app:1`, '--dest-creds', creds, '--dest-cert-dir', certDir),
        /denied|unauthorized|authentication required|401|403/i,
        "the robot's namespace is outside the token's scope",
      );
      // The password is not limited by the token's scope.
      assert.equal(await skopeoCopy(image.ref, `docker://${host(pier)}/ci/other:1`, '--dest-creds', 'robot:robot-secret-password', '--dest-cert-dir', certDir), image.digest);

      await pier.running.apiTokens.revoke(token.id);
      await assert.rejects(env.skopeo(['inspect', '--creds', creds, '--cert-dir', certDir, ref]), /unauthorized|authentication required|invalid username|401/i);
      assert.ok(!log.text().includes(secret.slice(22)), 'the secret is not in the log');
    });
  }
});
