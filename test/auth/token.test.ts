/**
 * The token flow with Pier's built-in token service and an access policy: the Bearer challenge, what a token
 * holds, grants as the intersection of what was asked and what is allowed, the policy (pull-only users,
 * private namespaces, anonymous pull, admins), the filtered catalog, OAuth2 password and refresh grants,
 * forged tokens refused, and tokens from an external issuer configured like the reference registry
 * (rootcertbundle with kid or x5c, JWKS) — including the reference registry itself accepting Pier's tokens.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, createHmac, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { libtrustKeyId } from '../../src/auth/token/keys.ts';
import { freePort } from '../support/pier-process.ts';
import { findOnPath } from '../support/tools.ts';
import { basic, makeSigningKey, pushImage, send, startFromConfig, tempDir, waitFor, writeHtpasswd, type InProcessPier } from './fixtures.ts';

const SERVICE = 'pier.test';
const ISSUER = 'pier-test-issuer';

interface TokenReply {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
  scope?: string;
}

describe('built-in token service and access policy', { timeout: 90_000 }, () => {
  let dir: string;
  let pier: InProcessPier;
  let signing: { key: string; cert: string };
  let privateKey: KeyObject;
  const passwords: Record<string, string> = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', ci: 'ci-pw', dave: 'dave-pw' };
  const digests: Record<string, string> = {};

  before(async () => {
    dir = tempDir('token');
    signing = makeSigningKey(dir, 'signing');
    privateKey = createPrivateKey(readFileSync(signing.key));
    await writeHtpasswd(join(dir, 'htpasswd'), passwords);
    const config = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /unused',
      '  delete:',
      '    enabled: true',
      'auth:',
      '  htpasswd:',
      '    realm: pier-basic',
      `    path: ${join(dir, 'htpasswd')}`,
      '  token:',
      '    realm: https://registry.invalid/token',
      '    autoredirect: true',
      '    autoredirectpath: /token',
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    signingkey: ${signing.key}`,
      '    expiration: 10m',
      'access:',
      '  loginlimit:',
      '    maxfailures: 4',
      '    window: 2s',
      '  policy:',
      '    admins: [alice]',
      '    groups:',
      '      builders: [ci]',
      '    anonymous: ["public/**"]',
      '    namespaces: true',
      '    rules:',
      '      - repositories: ["team/**"]',
      '        users: [bob]',
      '        actions: [pull]',
      '      - repositories: ["team/**"]',
      '        groups: [builders]',
      '        actions: [pull, push]',
      '      - repositories: ["shared/*"]',
      '        users: ["*"]',
      '        actions: [pull]',
      '',
    ].join('\n');
    pier = await startFromConfig(config);
    for (const repo of ['team/app', 'public/tool', 'carol/private', 'bob/private', 'shared/base', 'secret/thing']) {
      const pushed = await pushImage(pier.url, repo, '1', { headers: { Authorization: basic('alice', passwords.alice!) } });
      assert.equal(pushed.status, 201, repo);
      digests[repo] = pushed.digest;
    }
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function token(user: string | undefined, ...scopes: string[]): Promise<string> {
    const query = new URLSearchParams({ service: SERVICE });
    for (const s of scopes) query.append('scope', s);
    const res = await send(`${pier.url}/token?${query}`, user ? { headers: { Authorization: basic(user, passwords[user]!) } } : {});
    assert.equal(res.status, 200, res.text());
    assert.equal(res.headers['cache-control'], 'no-store');
    return res.json<TokenReply>().token;
  }
  const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}`, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const pull = (repo: string, t?: string) => send(`${pier.url}/v2/${repo}/manifests/1`, t ? bearer(t) : { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const accessOf = (t: string) => decodeJwt(t).access as Array<{ type: string; name: string; actions: string[] }>;

  it('challenges with Bearer realm, service and the scope the request needs', async () => {
    const base = await send(`${pier.url}/v2/`);
    assert.equal(base.status, 401);
    // autoredirect: the realm follows the host (and scheme) the request came in on.
    assert.equal(base.headers['www-authenticate'], `Bearer realm="${pier.url}/token",service="${SERVICE}"`);
    const manifest = await send(`${pier.url}/v2/team/app/manifests/1`);
    assert.equal(manifest.headers['www-authenticate'], `Bearer realm="${pier.url}/token",service="${SERVICE}",scope="repository:team/app:pull"`);
    const upload = await send(`${pier.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.match(String(upload.headers['www-authenticate']), /scope="repository:team\/app:pull,push"/);
    const catalog = await send(`${pier.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${await token('dave')}` } });
    assert.equal(catalog.status, 401);
    assert.match(String(catalog.headers['www-authenticate']), /scope="registry:catalog:\*",error="insufficient_scope"/);
  });

  it('issues an ES256 JWT with iss, sub, aud, exp, nbf, iat, jti and access', async () => {
    const t = await token('ci', 'repository:team/app:pull,push');
    const header = decodeProtectedHeader(t);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, libtrustKeyId(createPublicKey(privateKey)));
    assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const claims = decodeJwt(t);
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.sub, 'ci');
    assert.equal(claims.aud, SERVICE);
    assert.equal(claims.exp! - claims.iat!, 600);
    assert.equal(claims.nbf, claims.iat);
    assert.ok(Math.abs(claims.iat! - Date.now() / 1000) < 30);
    assert.equal(typeof claims.jti, 'string');
    assert.notEqual(decodeJwt(await token('ci')).jti, claims.jti);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }]);
  });

  it('grants only the intersection of what was asked and what the policy allows', async () => {
    assert.deepEqual(accessOf(await token('bob', 'repository:team/app:pull,push,delete', 'repository:secret/thing:pull', 'repository:shared/base:*')), [
      { type: 'repository', name: 'team/app', actions: ['pull'] },
      { type: 'repository', name: 'shared/base', actions: ['pull'] },
    ]);
    assert.deepEqual(accessOf(await token('alice', 'repository:secret/thing:*')), [{ type: 'repository', name: 'secret/thing', actions: ['pull', 'push', 'delete'] }]);
    // Several scopes in one parameter (space separated) and the same resource twice are merged.
    const query = new URLSearchParams({ service: SERVICE, scope: 'repository:carol/x:pull repository:carol/x:push' });
    const res = await send(`${pier.url}/token?${query}`, { headers: { Authorization: basic('carol', passwords.carol!) } });
    assert.deepEqual(accessOf(res.json<TokenReply>().token), [{ type: 'repository', name: 'carol/x', actions: ['pull', 'push'] }]);
  });

  it('a pull-only user cannot push (token: 401 insufficient_scope; Basic: 403 DENIED)', async () => {
    const t = await token('bob', 'repository:team/app:pull,push');
    assert.equal((await pull('team/app', t)).status, 200);
    const pushed = await pushImage(pier.url, 'team/app', 'bob', bearer(t), 'bob-layer');
    assert.equal(pushed.status, 401);
    const put = await send(`${pier.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${t}` } });
    assert.match(String(put.headers['www-authenticate']), /error="insufficient_scope"/);
    const viaBasic = await send(`${pier.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: basic('bob', passwords.bob!) } });
    assert.equal(viaBasic.status, 403);
    assert.equal(viaBasic.json<{ errors: Array<{ code: string }> }>().errors[0]!.code, 'DENIED');
    // A group member may push there.
    const ci = await token('ci', 'repository:team/app:pull,push');
    assert.equal((await pushImage(pier.url, 'team/app', 'ci', bearer(ci), 'ci-layer')).status, 201);
  });

  it("user A cannot pull user B's private repository; each owns their namespace", async () => {
    const carol = await token('carol', 'repository:bob/private:pull', 'repository:carol/private:pull,push,delete');
    assert.deepEqual(accessOf(carol), [{ type: 'repository', name: 'carol/private', actions: ['pull', 'push', 'delete'] }]);
    assert.equal((await pull('bob/private', carol)).status, 401);
    assert.equal((await pull('carol/private', carol)).status, 200);
    assert.equal((await pushImage(pier.url, 'carol/private', '2', bearer(carol), 'carol-2')).status, 201);
    assert.equal((await send(`${pier.url}/v2/bob/private/manifests/1`, { headers: { Authorization: basic('carol', passwords.carol!) } })).status, 403);
  });

  it('anonymous pull where the policy allows it, 401 elsewhere', async () => {
    const anonymous = await token(undefined, 'repository:public/tool:pull,push', 'repository:team/app:pull');
    assert.equal(decodeJwt(anonymous).sub, '');
    assert.deepEqual(accessOf(anonymous), [{ type: 'repository', name: 'public/tool', actions: ['pull'] }]);
    assert.equal((await pull('public/tool', anonymous)).status, 200);
    assert.equal((await pull('public/tool')).status, 200, 'also without any token');
    const refused = await pull('team/app');
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer /);
    assert.equal((await pushImage(pier.url, 'public/tool', 'x', {}, 'anon')).status, 401);
  });

  it('the catalog lists only what the caller may pull', async () => {
    const list = async (auth: Record<string, string>): Promise<string[]> => {
      const res = await send(`${pier.url}/v2/_catalog`, { headers: auth });
      assert.equal(res.status, 200, res.text());
      return res.json<{ repositories: string[] }>().repositories;
    };
    assert.deepEqual(await list({ Authorization: `Bearer ${await token('bob', 'registry:catalog:*')}` }), ['bob/private', 'public/tool', 'shared/base', 'team/app']);
    assert.deepEqual(await list({ Authorization: `Bearer ${await token('carol', 'registry:catalog:*')}` }), ['carol/private', 'public/tool', 'shared/base']);
    assert.deepEqual(await list({ Authorization: `Bearer ${await token(undefined, 'registry:catalog:*')}` }), ['public/tool']);
    assert.deepEqual(await list({ Authorization: basic('dave', passwords.dave!) }), ['public/tool', 'shared/base']);
    assert.deepEqual(await list({ Authorization: `Bearer ${await token('alice', 'registry:catalog:*')}` }), ['bob/private', 'carol/private', 'public/tool', 'secret/thing', 'shared/base', 'team/app']);
    // Paging works on the filtered list.
    const page = await send(`${pier.url}/v2/_catalog?n=2`, { headers: { Authorization: basic('bob', passwords.bob!) } });
    assert.deepEqual(page.json<{ repositories: string[] }>().repositories, ['bob/private', 'public/tool']);
    assert.equal(page.headers.link, '</v2/_catalog?last=public%2Ftool&n=2>; rel="next"');
    const next = await send(`${pier.url}/v2/_catalog?last=public%2Ftool&n=2`, { headers: { Authorization: basic('bob', passwords.bob!) } });
    assert.deepEqual(next.json<{ repositories: string[] }>().repositories, ['shared/base', 'team/app']);
  });

  it('a token for one repository is refused on another', async () => {
    const t = await token('alice', 'repository:team/app:pull');
    assert.equal((await pull('team/app', t)).status, 200);
    const other = await pull('shared/base', t);
    assert.equal(other.status, 401);
    assert.match(String(other.headers['www-authenticate']), /scope="repository:shared\/base:pull",error="insufficient_scope"/);
    const blob = await send(`${pier.url}/v2/team/app/blobs/${digests['team/app']}`, bearer(t));
    assert.notEqual(blob.status, 401);
  });

  it('a cross-repository mount needs pull on the source; otherwise it is a plain upload', async () => {
    const manifest = JSON.parse((await pull('bob/private', await token('alice', 'repository:bob/private:pull'))).text()) as { layers: Array<{ digest: string }> };
    const layer = manifest.layers[0]!.digest;
    const carol = await token('carol', 'repository:carol/stolen:pull,push', 'repository:bob/private:pull');
    const mount = (query: string) => send(`${pier.url}/v2/carol/stolen/blobs/uploads/?${query}`, { method: 'POST', headers: { Authorization: `Bearer ${carol}` } });
    assert.equal((await mount(`mount=${layer}&from=bob/private`)).status, 202, 'not mounted: carol cannot pull bob/private');
    assert.equal((await mount(`mount=${layer}`)).status, 202, 'not mounted without from either');
    assert.equal((await send(`${pier.url}/v2/carol/stolen/blobs/${layer}`, bearer(carol))).status, 404);
    const alice = await token('alice', 'repository:alice/copy:pull,push', 'repository:bob/private:pull');
    assert.equal((await send(`${pier.url}/v2/alice/copy/blobs/uploads/?mount=${layer}&from=bob/private`, { method: 'POST', headers: { Authorization: `Bearer ${alice}` } })).status, 201);
  });

  describe('forged tokens are refused', () => {
    const base = () => ({ iss: ISSUER, aud: SERVICE, sub: 'alice', access: [{ type: 'repository', name: 'secret/thing', actions: ['pull'] }] });
    const kid = () => libtrustKeyId(createPublicKey(privateKey));
    async function signed(claims: Record<string, unknown>, key: KeyObject = privateKey, times: { iat?: number; nbf?: number; exp?: number } = {}): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: kid() })
        .setIssuedAt(times.iat ?? now)
        .setNotBefore(times.nbf ?? now)
        .setExpirationTime(times.exp ?? now + 300)
        .sign(key);
    }
    async function refused(t: string, reason: string): Promise<void> {
      const res = await pull('secret/thing', t);
      assert.equal(res.status, 401, reason);
      assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/, reason);
      assert.equal(res.json<{ errors: Array<{ code: string }> }>().errors[0]!.code, 'UNAUTHORIZED');
    }
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

    it('the control: a token signed with the right key and right claims works', async () => {
      assert.equal((await pull('secret/thing', await signed(base()))).status, 200);
    });
    it('signed with another key (claiming the trusted kid)', async () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
      await refused(await signed(base(), other), 'wrong key');
    });
    it('alg none', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(`${b64({ alg: 'none', typ: 'JWT', kid: kid() })}.${b64({ ...base(), iat: now, nbf: now, exp: now + 300 })}.`, 'alg none');
    });
    it('HS256 keyed with the public key (algorithm confusion)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const pem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: kid() })}.${b64({ ...base(), iat: now, nbf: now, exp: now + 300 })}`;
      await refused(`${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`, 'HS256');
    });
    it('expired', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await signed(base(), privateKey, { iat: now - 900, nbf: now - 900, exp: now - 300 }), 'expired');
    });
    it('not yet valid', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await signed(base(), privateKey, { nbf: now + 300, exp: now + 900 }), 'nbf in the future');
    });
    it('without an expiry', async () => {
      const t = await new SignJWT(base()).setProtectedHeader({ alg: 'ES256', kid: kid() }).setIssuedAt().sign(privateKey);
      await refused(t, 'no exp');
    });
    it('wrong audience', async () => {
      await refused(await signed({ ...base(), aud: 'another.registry' }), 'audience');
    });
    it('wrong issuer', async () => {
      await refused(await signed({ ...base(), iss: 'someone-else' }), 'issuer');
    });
    it('tampered claims', async () => {
      const real = await token('bob', 'repository:team/app:pull');
      const [header, payload, signature] = real.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
      claims.access = [{ type: 'repository', name: 'secret/thing', actions: ['pull', 'push'] }];
      await refused(`${header}.${b64(claims)}.${signature}`, 'tampered access');
      claims.access = [{ type: 'repository', name: 'team/app', actions: ['pull'] }];
      claims.sub = 'alice';
      const tampered = `${header}.${b64(claims)}.${signature}`;
      const res = await pull('team/app', tampered);
      assert.equal(res.status, 401, 'tampered subject');
    });
    it('a refresh token used as an access token', async () => {
      const res = await send(`${pier.url}/token?service=${SERVICE}&offline_token=true&scope=repository:secret/thing:pull`, { headers: { Authorization: basic('alice', passwords.alice!) } });
      await refused(res.json<TokenReply>().refresh_token!, 'refresh token');
    });
  });

  it('OAuth2 password and refresh_token grants; a new password voids refresh tokens', async () => {
    const form = (fields: Record<string, string>) =>
      send(`${pier.url}/token`, { method: 'POST', body: new URLSearchParams(fields).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    const granted = await form({ grant_type: 'password', username: 'ci', password: passwords.ci!, service: SERVICE, scope: 'repository:team/app:pull,push repository:secret/thing:pull', client_id: 'pier-test', access_type: 'offline' });
    assert.equal(granted.status, 200, granted.text());
    const body = granted.json<TokenReply>();
    assert.equal(body.scope, 'repository:team/app:pull,push');
    assert.equal(body.expires_in, 600);
    assert.ok(body.refresh_token);
    assert.equal((await pull('team/app', body.access_token)).status, 200);

    const refreshed = await form({ grant_type: 'refresh_token', refresh_token: body.refresh_token!, service: SERVICE, scope: 'repository:team/app:pull', client_id: 'pier-test' });
    assert.equal(refreshed.status, 200, refreshed.text());
    assert.deepEqual(accessOf(refreshed.json<TokenReply>().access_token), [{ type: 'repository', name: 'team/app', actions: ['pull'] }]);
    assert.equal(decodeJwt(refreshed.json<TokenReply>().access_token).sub, 'ci');

    assert.equal((await form({ grant_type: 'password', username: 'ci', password: 'wrong', service: SERVICE })).json<{ error: string }>().error, 'invalid_grant');
    assert.equal((await form({ grant_type: 'client_credentials' })).json<{ error: string }>().error, 'unsupported_grant_type');
    assert.equal((await form({ grant_type: 'refresh_token', refresh_token: body.access_token })).status, 400, 'an access token is not a refresh token');

    passwords.ci = 'ci-pw-2';
    await writeHtpasswd(join(dir, 'htpasswd'), passwords);
    const stale = await form({ grant_type: 'refresh_token', refresh_token: body.refresh_token!, service: SERVICE });
    assert.equal(stale.status, 400);
    assert.equal(stale.json<{ error: string }>().error, 'invalid_grant');
  });

  it('GET /token: wrong password 401 with a Basic challenge, account must match, unknown service refused, failures limited', async () => {
    const mismatch = await send(`${pier.url}/token?service=${SERVICE}&account=alice`, { headers: { Authorization: basic('dave', passwords.dave!) } });
    assert.equal(mismatch.status, 400);
    const wrong = await send(`${pier.url}/token?service=${SERVICE}`, { headers: { Authorization: basic('dave', 'nope') }, localAddress: '127.0.0.9' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="pier-basic"');
    assert.equal((await send(`${pier.url}/token?service=elsewhere`)).status, 400);
    for (let i = 0; i < 3; i++) assert.equal((await send(`${pier.url}/token?service=${SERVICE}`, { headers: { Authorization: basic('dave', `nope-${i}`) }, localAddress: '127.0.0.9' })).status, 401);
    const limited = await send(`${pier.url}/token?service=${SERVICE}`, { headers: { Authorization: basic('dave', passwords.dave!) }, localAddress: '127.0.0.9' });
    assert.equal(limited.status, 429, 'the guessing (account, address) pair is throttled');
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    const elsewhere = await send(`${pier.url}/token?service=${SERVICE}`, { headers: { Authorization: basic('dave', passwords.dave!) }, localAddress: '127.0.0.10' });
    assert.equal(elsewhere.status, 200, 'the account itself is not locked out');
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await send(`${pier.url}/token?service=${SERVICE}`, { headers: { Authorization: basic('dave', passwords.dave!) } })).status, 200);
  });
});

describe('tokens from an external issuer, configured like the reference registry', { timeout: 60_000 }, () => {
  let dir: string;
  let external: { key: string; cert: string };
  let externalKey: KeyObject;
  let bundled: InProcessPier;
  let jwks: InProcessPier;
  let digest: string;

  before(async () => {
    dir = tempDir('external');
    external = makeSigningKey(dir, 'external');
    externalKey = createPrivateKey(readFileSync(external.key));
    const jwk = { ...createPublicKey(externalKey).export({ format: 'jwk' }), kid: 'external-key-1', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const config = (keys: string) =>
      ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /unused', 'auth:', '  token:', '    realm: https://auth.example.com/token', '    service: registry.example.com', '    issuer: auth.example.com', keys, ''].join('\n');
    const dataDir = join(dir, 'data');
    bundled = await startFromConfig(config(`    rootcertbundle: ${external.cert}`), { dataDir });
    jwks = await startFromConfig(config(`    jwks: ${join(dir, 'jwks.json')}`), { dataDir });
    const push = await pushImage(bundled.url, 'ext/app', '1', { headers: { Authorization: `Bearer ${await externalToken({ kid: libtrustKeyId(createPublicKey(externalKey)) }, ['pull', 'push'])}` } });
    assert.equal(push.status, 201);
    digest = push.digest;
  });

  after(async () => {
    await bundled?.close();
    await jwks?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function externalToken(header: Record<string, unknown>, actions: string[], key: KeyObject = externalKey, name = 'ext/app'): Promise<string> {
    return new SignJWT({ access: [{ type: 'repository', name, actions }] })
      .setProtectedHeader({ alg: 'ES256', ...header })
      .setIssuer('auth.example.com')
      .setAudience('registry.example.com')
      .setSubject('someone')
      .setIssuedAt()
      .setNotBefore(Math.floor(Date.now() / 1000))
      .setExpirationTime('5m')
      .sign(key);
  }
  const pullWith = (pier: InProcessPier, t: string) => send(`${pier.url}/v2/ext/app/manifests/1`, { headers: { Authorization: `Bearer ${t}`, Accept: 'application/vnd.oci.image.manifest.v1+json' } });

  it('challenges with the configured realm', async () => {
    const res = await send(`${bundled.url}/v2/ext/app/manifests/1`);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:ext/app:pull"');
    assert.equal((await send(`${bundled.url}/token`)).status, 404, 'no token endpoint without a signing key');
  });

  it('rootcertbundle: by libtrust kid, by x5c chain; an unknown key is refused', async () => {
    const byKid = await pullWith(bundled, await externalToken({ kid: libtrustKeyId(createPublicKey(externalKey)) }, ['pull']));
    assert.equal(byKid.status, 200);
    assert.equal(byKid.headers['docker-content-digest'], digest);
    const der = new X509Certificate(readFileSync(external.cert)).raw.toString('base64');
    assert.equal((await pullWith(bundled, await externalToken({ x5c: [der] }, ['pull']))).status, 200);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    assert.equal((await pullWith(bundled, await externalToken({ kid: libtrustKeyId(createPublicKey(stranger)) }, ['pull'], stranger))).status, 401);
    assert.equal((await pullWith(bundled, await externalToken({ kid: libtrustKeyId(createPublicKey(externalKey)) }, ['pull'], stranger))).status, 401);
    assert.equal((await pullWith(bundled, await externalToken({}, ['pull']))).status, 401, 'a token naming no key');
    // What the external token grants is what counts: push only where granted.
    assert.equal((await pushImage(bundled.url, 'ext/app', '2', { headers: { Authorization: `Bearer ${await externalToken({ kid: libtrustKeyId(createPublicKey(externalKey)) }, ['pull'])}` } }, 'x')).status, 401);
  });

  it('jwks: by the key id of the set', async () => {
    assert.equal((await pullWith(jwks, await externalToken({ kid: 'external-key-1' }, ['pull']))).status, 200);
    assert.equal((await pullWith(jwks, await externalToken({ kid: 'another-key' }, ['pull']))).status, 401);
  });
});

describe('the reference registry accepts tokens from Pier', { timeout: 60_000 }, () => {
  it('docker-registry 2.8 with rootcertbundle = the certificate of Pier\'s signing key', async (t) => {
    if (!findOnPath('docker-registry')) {
      t.skip('docker-registry is not installed');
      return;
    }
    const dir = tempDir('interop');
    const signing = makeSigningKey(dir, 'signing');
    await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-pw' });
    const pier = await startFromConfig(
      ['version: 0.1', 'storage: filesystem', 'auth:', '  htpasswd:', `    path: ${join(dir, 'htpasswd')}`, '  token:', '    realm: https://pier.invalid/token', '    service: shared.registry', '    issuer: pier', `    signingkey: ${signing.key}`, ''].join('\n'),
    );
    const port = await freePort();
    writeFileSync(
      join(dir, 'reference.yml'),
      ['version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'reference-data')}`, 'http:', `  addr: 127.0.0.1:${port}`, '  secret: interop', 'auth:', '  token:', '    realm: https://pier.invalid/token', '    service: shared.registry', '    issuer: pier', `    rootcertbundle: ${signing.cert}`, ''].join('\n'),
    );
    const reference = spawn('docker-registry', ['serve', join(dir, 'reference.yml')], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await send(`${url}/v2/`)).status === 401, 'the reference registry');
      const res = await send(`${pier.url}/token?service=shared.registry&scope=repository:interop/app:pull,push&scope=registry:catalog:*`, { headers: { Authorization: basic('alice', 'alice-pw') } });
      const pierToken = res.json<TokenReply>().token;
      assert.equal((await send(`${url}/v2/`, { headers: { Authorization: `Bearer ${pierToken}` } })).status, 200, 'the reference verified the kid and signature');
      const tags = await send(`${url}/v2/interop/app/tags/list`, { headers: { Authorization: `Bearer ${pierToken}` } });
      assert.equal(tags.status, 404, 'authorized; the repository does not exist');
      assert.equal((await send(`${url}/v2/_catalog`, { headers: { Authorization: `Bearer ${pierToken}` } })).status, 200);
      assert.equal((await send(`${url}/v2/other/app/tags/list`, { headers: { Authorization: `Bearer ${pierToken}` } })).status, 401, 'not granted');
      const bogus = await send(`${url}/v2/`, { headers: { Authorization: `Bearer ${pierToken.slice(0, -4)}AAAA` } });
      assert.equal(bogus.status, 401);
    } finally {
      reference.kill('SIGTERM');
      await pier.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
