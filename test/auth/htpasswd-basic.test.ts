/**
 * htpasswd Basic authentication as the reference registry does it: the `Basic realm` challenge and the
 * UNAUTHORIZED body, bcrypt in its `$2y$`/`$2a$`/`$2b$` forms, other schemes refused with a log line, the
 * file followed when it changes; failed logins limited per account and per address (429 + Retry-After);
 * read-only mode; and no password or Authorization header in the log.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { requireTools } from '../support/tools.ts';
import { basic, memoryLogger, pushImage, send, startFromConfig, tempDir, writeHtpasswd, type InProcessPier } from './fixtures.ts';

function htpasswdConfig(path: string, extra: string[] = []): string {
  return ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /unused', '  delete:', '    enabled: true', 'auth:', '  htpasswd:', '    realm: pier-test', `    path: ${path}`, ...extra, ''].join('\n');
}

describe('htpasswd basic auth', { timeout: 60_000 }, () => {
  let dir: string;
  let pier: InProcessPier;
  let log: ReturnType<typeof memoryLogger>;
  const secrets = ['y-password', 'a-password', 'b-password', 'sha-password', 'md5-password', 'plain-password', 'late-password', 'wrong-guess'];

  before(async () => {
    requireTools('htpasswd');
    dir = tempDir('htpasswd');
    const y = execFileSync('htpasswd', ['-nbB', 'yuser', 'y-password']).toString().trim();
    const a = `auser:${bcrypt.hashSync('a-password', 4).replace(/^\$2b\$/, '$2a$')}`;
    const b = `buser:${bcrypt.hashSync('b-password', 4)}`;
    const sha = execFileSync('htpasswd', ['-nbs', 'shauser', 'sha-password']).toString().trim();
    const md5 = execFileSync('htpasswd', ['-nbm', 'md5user', 'md5-password']).toString().trim();
    const plain = 'plainuser:plain-password';
    assert.match(y, /^yuser:\$2y\$/);
    assert.match(a, /^auser:\$2a\$/);
    assert.match(b, /^buser:\$2b\$/);
    writeFileSync(join(dir, 'htpasswd'), [`# users`, y, a, b, sha, md5, plain, ''].join('\n'));
    log = memoryLogger('debug');
    pier = await startFromConfig(htpasswdConfig(join(dir, 'htpasswd'), ['access:', '  loginlimit:', '    maxfailures: 1000']), { logger: log.logger });
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('challenges with the realm and answers UNAUTHORIZED as the reference does', async () => {
    const base = await send(`${pier.url}/v2/`);
    assert.equal(base.status, 401);
    assert.equal(base.headers['www-authenticate'], 'Basic realm="pier-test"');
    assert.match(String(base.headers['content-type']), /application\/json/);
    assert.deepEqual(base.json(), { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });

    const manifest = await send(`${pier.url}/v2/library/app/manifests/latest`);
    assert.equal(manifest.status, 401);
    assert.equal(manifest.headers['www-authenticate'], 'Basic realm="pier-test"');
    assert.deepEqual(manifest.json(), {
      errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Type: 'repository', Class: '', Name: 'library/app', Action: 'pull' }] }],
    });
    const push = await send(`${pier.url}/v2/library/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(push.status, 401);
    assert.equal(push.json<{ errors: Array<{ detail: unknown[] }> }>().errors[0]!.detail.length, 2, 'pull and push');
    assert.equal((await send(`${pier.url}/v2/_catalog`)).status, 401);
    // Operational endpoints stay open (they carry no registry content).
    assert.equal((await send(`${pier.url}/healthz`)).status, 200);
  });

  it('accepts bcrypt in its $2y$, $2a$ and $2b$ forms, and nothing with a wrong password', async () => {
    for (const [user, password] of [['yuser', 'y-password'], ['auser', 'a-password'], ['buser', 'b-password']] as const) {
      assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: basic(user, password) } })).status, 200, user);
      assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: basic(user, 'wrong-guess') } })).status, 401, user);
    }
    const pushed = await pushImage(pier.url, 'team/app', '1', { headers: { Authorization: basic('yuser', 'y-password') } });
    assert.equal(pushed.status, 201);
    const pulled = await send(`${pier.url}/v2/team/app/manifests/1`, { headers: { Authorization: basic('auser', 'a-password'), Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pulled.status, 200);
    assert.equal(pulled.headers['docker-content-digest'], pushed.digest);
    assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: 'Basic !!!' } })).status, 401);
    assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: 'Bearer abc' } })).status, 401);
  });

  it('refuses {SHA}, MD5 ($apr1$) and plain-text entries, saying so in the log', async () => {
    for (const [user, password] of [['shauser', 'sha-password'], ['md5user', 'md5-password'], ['plainuser', 'plain-password']] as const) {
      assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: basic(user, password) } })).status, 401, user);
    }
    const ignored = log.text().split('\n').filter((l) => l.includes('htpasswd entry ignored'));
    assert.equal(ignored.length, 3);
    assert.match(ignored.join('\n'), /"user":"shauser".*unsupported hash scheme \{SHA\}/);
    assert.match(ignored.join('\n'), /"user":"md5user".*unsupported hash scheme \$apr1\$/);
    assert.match(ignored.join('\n'), /"user":"plainuser".*unsupported hash scheme plain text/);
  });

  it('follows the file when it is replaced, and keeps the users when it disappears', async () => {
    const path = join(dir, 'htpasswd');
    const late = { Authorization: basic('lateuser', 'late-password') };
    assert.equal((await send(`${pier.url}/v2/`, { headers: late })).status, 401);
    await writeHtpasswd(join(dir, 'htpasswd.new'), { lateuser: 'late-password', yuser: 'y-password' });
    renameSync(join(dir, 'htpasswd.new'), path);
    assert.equal((await send(`${pier.url}/v2/`, { headers: late })).status, 200);
    assert.equal((await send(`${pier.url}/v2/`, { headers: { Authorization: basic('buser', 'b-password') } })).status, 401, 'buser is gone');
    assert.match(log.text(), /htpasswd file reloaded/);

    rmSync(path);
    assert.equal((await send(`${pier.url}/v2/`, { headers: late })).status, 200, 'the last good list stays');
    assert.match(log.text(), /htpasswd file unreadable: keeping the users loaded before/);
    await writeHtpasswd(path, { yuser: 'y-password' });
  });

  it('never writes a password or an Authorization header into the log', () => {
    const text = log.text();
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `log holds ${secret}`);
      assert.ok(!text.includes(Buffer.from(`yuser:${secret}`).toString('base64')), `log holds the Basic credentials with ${secret}`);
    }
    assert.doesNotMatch(text, /Basic [A-Za-z0-9+/=]{8,}/);
    assert.doesNotMatch(text, /\$2[aby]\$\d\d\$/, 'no hash either');
  });
});

describe('failed-login limits', { timeout: 60_000 }, () => {
  let dir: string;
  let pier: InProcessPier;

  before(async () => {
    dir = tempDir('limits');
    await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-password', bob: 'bob-password', carol: 'carol-password' });
    pier = await startFromConfig(htpasswdConfig(join(dir, 'htpasswd'), ['access:', '  loginlimit:', '    maxfailures: 3', '    addressmaxfailures: 6', '    window: 2s']));
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const login = (user: string, password: string, from = '127.0.0.1') =>
    send(`${pier.url}/v2/`, { headers: { Authorization: basic(user, password) }, localAddress: from });

  it('throttles the guessing pair with 429 and Retry-After, never the user elsewhere; the address only at its higher limit', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await login('alice', `guess-${i}`)).status, 401);
    const limited = await login('alice', 'alice-password');
    assert.equal(limited.status, 429, 'the guessing pair is throttled, even with the right password');
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${limited.headers['retry-after']}`);
    assert.deepEqual(limited.json(), { errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed login attempts', detail: null }] });
    assert.equal((await login('alice', 'alice-password', '127.0.0.2')).status, 200, 'alice from elsewhere is served');
    assert.equal((await login('bob', 'bob-password', '127.0.0.1')).status, 200, 'bob from the same address is served');

    for (let i = 0; i < 3; i++) assert.equal((await login(`nobody${i}`, 'x')).status, 401);
    assert.equal((await login('carol', 'carol-password')).status, 429, 'six failures from one address throttle the address');
    const metrics = await (await fetch(`${pier.url}/metrics`)).text();
    assert.match(metrics, /pier_login_throttled_total\{limit="account-address"\} 1/);
    assert.match(metrics, /pier_login_throttled_total\{limit="address"\} 1/);

    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    assert.equal((await login('alice', 'alice-password')).status, 200, 'served again after the window');
  });
});

describe('read-only mode', { timeout: 60_000 }, () => {
  let dir: string;
  let writable: InProcessPier | undefined;
  let readOnly: InProcessPier;
  let readOnlyOpen: InProcessPier;
  const auth = { headers: { Authorization: basic('alice', 'alice-password') } };
  let digest: string;

  before(async () => {
    dir = tempDir('readonly');
    await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-password' });
    const dataDir = join(dir, 'data');
    writable = await startFromConfig(htpasswdConfig(join(dir, 'htpasswd')), { dataDir });
    const pushed = await pushImage(writable.url, 'library/app', 'v1', auth);
    assert.equal(pushed.status, 201);
    digest = pushed.digest;
    await writable.close();
    writable = undefined;
    const readonlyLines = ['  maintenance:', '    readonly:', '      enabled: true'];
    readOnly = await startFromConfig(htpasswdConfig(join(dir, 'htpasswd')).replace('  delete:\n', `${readonlyLines.join('\n')}\n  delete:\n`), { dataDir });
    readOnlyOpen = await startFromConfig('version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /unused\n', { dataDir, env: { REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED: 'true' } });
  });

  after(async () => {
    await writable?.close();
    await readOnly?.close();
    await readOnlyOpen?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves pulls and refuses every write with 405 UNSUPPORTED "registry is in read-only mode"', async () => {
    for (const pier of [readOnly, readOnlyOpen]) {
      const manifest = await send(`${pier.url}/v2/library/app/manifests/v1`, { ...auth, headers: { ...auth.headers, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(manifest.status, 200);
      assert.equal(manifest.headers['docker-content-digest'], digest);
      assert.equal((await send(`${pier.url}/v2/library/app/tags/list`, auth)).json<{ tags: string[] }>().tags[0], 'v1');

      const writes = [
        send(`${pier.url}/v2/library/app/manifests/v2`, { ...auth, method: 'PUT', body: manifest.body, headers: { ...auth.headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } }),
        send(`${pier.url}/v2/library/app/blobs/uploads/`, { ...auth, method: 'POST' }),
        send(`${pier.url}/v2/library/app/manifests/${digest}`, { ...auth, method: 'DELETE' }),
        send(`${pier.url}/v2/library/app/blobs/uploads/some-upload`, { ...auth, method: 'PATCH', body: 'x' }),
      ];
      for (const res of await Promise.all(writes)) {
        assert.equal(res.status, 405);
        assert.deepEqual(res.json(), { errors: [{ code: 'UNSUPPORTED', message: 'registry is in read-only mode', detail: null }] });
      }
      assert.equal((await send(`${pier.url}/v2/library/app/manifests/v1`, auth)).status, 200, 'still there');
    }
    // Authentication comes first: an anonymous writer learns nothing more than 401.
    assert.equal((await send(`${readOnly.url}/v2/library/app/blobs/uploads/`, { method: 'POST' })).status, 401);
  });
});
