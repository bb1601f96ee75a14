/**
 * `pier serve` and `pier config check` as processes: a config.yml written the way the reference registry's
 * documentation writes one (filesystem storage, htpasswd, TLS, delete enabled) starts Pier unchanged; the
 * environment wins over the file; `config check` reports several errors in one run; `pier user` edits the
 * htpasswd file and the running server follows; SIGHUP reloads the certificate.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../support/pier-process.ts';
import { requireTools } from '../support/tools.ts';
import { basic, childEnv, issueServerCertificate, makePki, pushImage, send, spawnPier, startFromConfig, tempDir, waitFor, type Pki, type PierChild } from '../auth/fixtures.ts';

describe('pier serve with a reference-style config.yml', { timeout: 120_000 }, () => {
  let dir: string;
  let pki: Pki;
  let pier: PierChild;
  let url: string;
  let configPath: string;
  const ca = (): Buffer => readFileSync(pki.caCert);

  before(async () => {
    requireTools('openssl', 'htpasswd');
    dir = tempDir('serve-config');
    pki = makePki(dir);
    // The live certificate files, replaced for the SIGHUP test.
    copyFileSync(pki.serverCert, join(dir, 'live.crt'));
    copyFileSync(pki.serverKey, join(dir, 'live.key'));
    // htpasswd as the reference documentation makes it: `htpasswd -Bbn`.
    const { execFileSync } = await import('node:child_process');
    writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', 'testuser', 'testpassword']));
    configPath = join(dir, 'config.yml');
    writeFileSync(
      configPath,
      [
        'version: 0.1',
        'log:',
        '  fields:',
        '    service: registry',
        'storage:',
        '  cache:',
        '    blobdescriptor: inmemory',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        '  addr: :5000',
        '  headers:',
        '    X-Content-Type-Options: [nosniff]',
        '  tls:',
        `    certificate: ${join(dir, 'live.crt')}`,
        `    key: ${join(dir, 'live.key')}`,
        'auth:',
        '  htpasswd:',
        '    realm: basic-realm',
        `    path: ${join(dir, 'htpasswd')}`,
        'health:',
        '  storagedriver:',
        '    enabled: true',
        '    interval: 10s',
        '    threshold: 3',
        '',
      ].join('\n'),
    );
    // The file says :5000; the environment wins, as with registry:2.
    const port = await freePort();
    url = `https://127.0.0.1:${port}`;
    pier = spawnPier(['serve', configPath], childEnv({ REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'info' }));
    await waitFor(async () => (await send(`${url}/v2/`, { ca: ca() })).status === 401, 'pier to answer over TLS', pier);
  });

  after(async () => {
    await pier?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves TLS with the htpasswd realm, the configured headers and the environment address', async () => {
    const anonymous = await send(`${url}/v2/`, { ca: ca() });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Basic realm="basic-realm"');
    assert.equal(anonymous.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(anonymous.json(), { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] });
    const wrong = await send(`${url}/v2/`, { ca: ca(), headers: { Authorization: basic('testuser', 'nope') } });
    assert.equal(wrong.status, 401);
    const good = await send(`${url}/v2/`, { ca: ca(), headers: { Authorization: basic('testuser', 'testpassword') } });
    assert.equal(good.status, 200);
    // The notice for the health section was logged at start; the secret-free log names the key.
    assert.match(pier.output(), /"key":"health"/);
  });

  it('delete is enabled as configured', async () => {
    const auth = { ca: ca(), headers: { Authorization: basic('testuser', 'testpassword') } };
    const pushed = await pushImage(url, 'library/app', 'v1', auth);
    assert.equal(pushed.status, 201);
    const deleted = await send(`${url}/v2/library/app/manifests/${pushed.digest}`, { ...auth, method: 'DELETE' });
    assert.equal(deleted.status, 202);
    assert.equal((await send(`${url}/v2/library/app/manifests/v1`, auth)).status, 404);
  });

  it('pier user add, passwd and remove change who can log in, without a restart', async () => {
    const htpasswd = join(dir, 'htpasswd');
    const login = async (user: string, password: string): Promise<number> => (await send(`${url}/v2/`, { ca: ca(), headers: { Authorization: basic(user, password) } })).status;
    const run = async (args: string[], input?: string): Promise<{ code: number | null; output: string }> => {
      const child = spawnPier(['user', ...args, '--file', htpasswd], childEnv(), input);
      const code = await child.exited;
      return { code, output: child.output() };
    };

    const added = await run(['add', 'bob', '--password-stdin', '--cost', '5'], 'bob-password\n');
    assert.equal(added.code, 0, added.output);
    assert.equal(statSync(htpasswd).mode & 0o777, 0o600);
    assert.match(readFileSync(htpasswd, 'utf8'), /^bob:\$2y\$05\$/m);
    await waitFor(async () => (await login('bob', 'bob-password')) === 200, 'the new user to be accepted');
    assert.equal(await login('testuser', 'testpassword'), 200, 'the user htpasswd -B made is kept');

    const duplicate = await run(['add', 'bob', '--password-stdin'], 'x\n');
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.output, /already exists/);

    const listed = await run(['list']);
    assert.equal(listed.code, 0);
    assert.deepEqual(listed.output.trim().split('\n').sort(), ['bob', 'testuser']);

    assert.equal((await run(['passwd', 'bob', '--password-stdin', '--cost', '4'], 'new-password\n')).code, 0);
    await waitFor(async () => (await login('bob', 'new-password')) === 200, 'the new password to be accepted');
    assert.equal(await login('bob', 'bob-password'), 401);

    assert.equal((await run(['remove', 'bob'])).code, 0);
    await waitFor(async () => (await login('bob', 'new-password')) === 401, 'the removed user to be refused');
    assert.equal((await run(['remove', 'bob'])).code, 1);
  });

  it('SIGHUP reloads the certificate for new connections', async () => {
    const before = await send(`${url}/v2/`, { ca: ca() });
    const renewed = issueServerCertificate(dir, 'renewed', 'renewed.localhost');
    copyFileSync(renewed.cert, join(dir, 'live.crt'));
    copyFileSync(renewed.key, join(dir, 'live.key'));
    pier.child.kill('SIGHUP');
    await waitFor(async () => (await send(`${url}/v2/`, { ca: ca() })).peerFingerprint !== before.peerFingerprint, 'the renewed certificate', pier);
    const after = await send(`${url}/v2/`, { ca: ca() });
    const { X509Certificate, createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(new X509Certificate(readFileSync(renewed.cert)).raw).digest('hex');
    assert.equal(after.peerFingerprint, expected);
    assert.match(pier.output(), /TLS certificate and key reloaded/);
  });
});

describe('storage.maintenance.uploadpurging', { timeout: 60_000 }, () => {
  it('purges uploads older than age, every interval', async () => {
    const pier = await startFromConfig('version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /unused\n  maintenance:\n    uploadpurging:\n      age: 1ms\n      interval: 200ms\n');
    try {
      const started = await send(`${pier.url}/v2/purge/app/blobs/uploads/`, { method: 'POST' });
      assert.equal(started.status, 202);
      const location = String(started.headers.location);
      await waitFor(async () => (await send(`${pier.url}${location}`)).status === 404, 'the upload to be purged');
      assert.equal((await send(`${pier.url}${location}`)).json<{ errors: Array<{ code: string }> }>().errors[0]!.code, 'BLOB_UPLOAD_UNKNOWN');
    } finally {
      await pier.close();
    }
  });
});

describe('plain HTTP on a non-loopback address', { timeout: 60_000 }, () => {
  it('logs a prominent warning', async () => {
    const dir = tempDir('plain');
    const port = await freePort();
    const pier = spawnPier(['serve', '--addr', `0.0.0.0:${port}`, '--data', join(dir, 'data')], childEnv({ REGISTRY_LOG_LEVEL: 'info' }));
    try {
      await waitFor(async () => (await send(`http://127.0.0.1:${port}/v2/`)).status === 200, 'pier on 0.0.0.0', pier);
      assert.match(pier.output(), /"level":40.*INSECURE: serving plain HTTP on a non-loopback address/);
      assert.match(pier.output(), /no authentication configured/);
    } finally {
      await pier.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pier config check and refused configurations', { timeout: 60_000 }, () => {
  it('reports several errors in one run, with lines, and exits 1', async () => {
    const dir = tempDir('config-check');
    try {
      const file = join(dir, 'bad.yml');
      writeFileSync(
        file,
        ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /data', '  delete:', '    enabled: sometimes', 'http:', '  addr: 5000', '  tls:', '    minimumtls: ssl3', 'auth:', '  htpasswd:', '    realm: r', 'notifcations: {}', ''].join('\n'),
      );
      const check = spawnPier(['config', 'check', file], childEnv());
      assert.equal(await check.exited, 1);
      const errors = check.output().split('\n').filter((l) => l.startsWith('error: '));
      assert.deepEqual(errors.sort(), [
        `error: ${file}:10: http.tls.minimumtls: expected one of tls1.0, tls1.1, tls1.2, tls1.3, not "ssl3"`,
        `error: ${file}:12: auth.htpasswd.path: required: a string`,
        `error: ${file}:14: notifcations: unknown key (did you mean notifications?)`,
        `error: ${file}:6: storage.delete.enabled: expected true or false, not "sometimes"`,
      ]);
      assert.match(check.output(), /4 problems/);

      const good = join(dir, 'good.yml');
      writeFileSync(good, 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /data\nhttp:\n  addr: :5000\n  secret: s3cr3t-value\nnotifications:\n  endpoints:\n    - name: a\n      url: https://example.com/\n');
      const ok = spawnPier(['config', 'check', good], childEnv());
      assert.equal(await ok.exited, 0, ok.output());
      assert.match(ok.output(), /configuration is valid/);
      assert.doesNotMatch(ok.output(), /warning: notifications/, 'notification endpoints are supported');
      assert.doesNotMatch(ok.output(), /s3cr3t-value/);

      const missingFiles = join(dir, 'files.yml');
      writeFileSync(missingFiles, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /data\nhttp:\n  tls:\n    certificate: ${dir}/none.crt\n    key: ${dir}/none.key\n`);
      const files = spawnPier(['config', 'check', missingFiles], childEnv());
      assert.equal(await files.exited, 1);
      assert.match(files.output(), /http\.tls\.certificate: cannot read .*none\.crt \(ENOENT\)/);
      assert.match(files.output(), /http\.tls\.key: cannot read .*none\.key \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pier serve refuses an invalid configuration with every problem and exit status 2', async () => {
    const dir = tempDir('serve-invalid');
    try {
      const file = join(dir, 'config.yml');
      writeFileSync(file, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  s3:\n    bucket: b\nhttp:\n  prefix: /registry\n`);
      const serve = spawnPier(['serve', '--config', file], childEnv({ REGISTRY_STORAGE_DELETE_ENABLED: 'nope' }));
      assert.equal(await serve.exited, 2);
      assert.match(serve.output(), /REGISTRY_STORAGE_DELETE_ENABLED: storage\.delete\.enabled: expected true or false/);
      const missingHtpasswd = join(dir, 'auth.yml');
      writeFileSync(missingHtpasswd, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:0\nauth:\n  htpasswd:\n    realm: r\n    path: ${dir}/absent\n`);
      const noFile = spawnPier(['serve', missingHtpasswd], childEnv());
      assert.notEqual(await noFile.exited, 0);
      assert.match(noFile.output(), /cannot read the htpasswd file .*absent: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
