/**
 * skopeo and podman against Pier over TLS with a CA made by the test (openssl, SAN IP:127.0.0.1): with
 * htpasswd Basic auth, and with Pier's token service and an access policy. The clients are given the CA the
 * way users give it (`--cert-dir` / `--src-cert-dir` / `--dest-cert-dir` holding `ca.crt`) and credentials
 * with `--creds` / `podman login`. Digests are compared end to end.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { requireTools } from '../support/tools.ts';
import { makePki, makeSigningKey, send, startFromConfig, tempDir, writeHtpasswd, type InProcessPier, type Pki } from './fixtures.ts';

const STEP = { timeout: 120_000 };

describe('skopeo and podman over TLS with authentication', { timeout: 600_000 }, () => {
  let env: ClientEnv;
  let image: SmallImage;
  let dir: string;
  let pki: Pki;
  let certDir: string;
  let basicPier: InProcessPier;
  let tokenPier: InProcessPier;
  let outputs = 0;

  before(async () => {
    requireTools('skopeo', 'podman', 'buildah', 'openssl');
    env = await createClientEnv('pier-ac');
    image = await buildSmallImage(env);
    dir = tempDir('clients-tls');
    pki = makePki(dir);
    // What users do: a folder holding only ca.crt.
    certDir = join(dir, 'client-certs');
    mkdirSync(certDir);
    copyFileSync(pki.caCert, join(certDir, 'ca.crt'));
    await writeHtpasswd(join(dir, 'htpasswd'), { alice: 'alice-secret', bob: 'bob-secret' });
    const signing = makeSigningKey(dir, 'token-signing');
    const common = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /unused',
      '  delete:',
      '    enabled: true',
      'http:',
      '  tls:',
      `    certificate: ${pki.serverCert}`,
      `    key: ${pki.serverKey}`,
      'auth:',
      '  htpasswd:',
      '    realm: pier-clients',
      `    path: ${join(dir, 'htpasswd')}`,
    ];
    basicPier = await startFromConfig([...common, ''].join('\n'));
    tokenPier = await startFromConfig(
      [
        ...common,
        '  token:',
        '    realm: https://registry.invalid/token',
        '    autoredirect: true',
        '    autoredirectpath: /token',
        '    service: pier-clients',
        '    issuer: pier-clients-issuer',
        `    signingkey: ${signing.key}`,
        'access:',
        '  policy:',
        '    anonymous: ["public/**"]',
        '    namespaces: true',
        '    rules:',
        '      - repositories: ["alice/**"]',
        '        users: [bob]',
        '        actions: [pull]',
        '      - repositories: ["public/**"]',
        '        users: [alice]',
        '        actions: [pull, push]',
        '',
      ].join('\n'),
    );
  }, { timeout: 180_000 });

  after(async () => {
    await basicPier?.close();
    await tokenPier?.close();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const host = (pier: InProcessPier): string => new URL(pier.url).host;
  const out = (name: string): Promise<string> => env.path('out', `${++outputs}-${name}`);
  const ca = (): Buffer => readFileSync(pki.caCert);

  async function skopeoCopy(src: string, dest: string, ...flags: string[]): Promise<string> {
    const digestFile = await out('digest');
    await env.skopeo(['copy', '--quiet', '--digestfile', digestFile, ...flags, src, dest], { timeoutMs: 90_000 });
    return readFileSync(digestFile, 'utf8').trim();
  }

  async function tokenRequests(): Promise<number> {
    const text = (await send(`${tokenPier.url}/metrics`, { ca: ca() })).text();
    return [...text.matchAll(/^pier_http_requests_total\{route="token",method="GET",status="200"\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  }

  describe('htpasswd', () => {
    it('skopeo copy pushes with --dest-creds and --dest-cert-dir, and pulls back with --src-creds and --src-cert-dir', STEP, async () => {
      const ref = `docker://${host(basicPier)}/team/small:1`;
      const pushed = await skopeoCopy(image.ref, ref, '--dest-creds', 'alice:alice-secret', '--dest-cert-dir', certDir);
      assert.equal(pushed, image.digest);
      const inspected = JSON.parse((await env.skopeo(['inspect', '--creds', 'bob:bob-secret', '--cert-dir', certDir, ref])).stdout) as { Digest: string };
      assert.equal(inspected.Digest, image.digest);
      const layout = await out('pulled');
      const pulled = await skopeoCopy(ref, `oci:${layout}:small`, '--src-creds', 'bob:bob-secret', '--src-cert-dir', certDir);
      assert.equal(pulled, image.digest);
    });

    it('skopeo is refused without credentials, with a wrong password, and without the CA', STEP, async () => {
      const ref = `docker://${host(basicPier)}/team/small:1`;
      await assert.rejects(env.skopeo(['inspect', '--cert-dir', certDir, ref]), /authentication required|unauthorized|401/i);
      await assert.rejects(env.skopeo(['inspect', '--creds', 'alice:wrong', '--cert-dir', certDir, ref]), /authentication required|unauthorized|401/i);
      await assert.rejects(env.skopeo(['inspect', '--creds', 'alice:alice-secret', ref]), /x509|certificate/i);
      await assert.rejects(
        skopeoCopy(image.ref, `docker://${host(basicPier)}/team/other:1`, '--dest-cert-dir', certDir),
        /authentication required|unauthorized|401/i,
      );
    });

    it('podman login, push and pull into a fresh store', STEP, async () => {
      const registry = host(basicPier);
      await assert.rejects(env.podman(['login', '--cert-dir', certDir, '-u', 'alice', '-p', 'not-it', registry]), /401|unauthorized|invalid username/i);
      await env.podman(['login', '--cert-dir', certDir, '-u', 'alice', '-p', 'alice-secret', registry]);
      assert.equal((await env.podman(['login', '--get-login', registry])).stdout.trim(), 'alice');
      const digestFile = await out('digest');
      const ref = `${registry}/podman/small:1`;
      await env.podman(['push', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, '--format', 'oci', '--digestfile', digestFile, image.localName, `docker://${ref}`], { timeoutMs: 90_000 });
      assert.equal(readFileSync(digestFile, 'utf8').trim(), image.digest);
      const store = await env.freshStore('pb');
      await env.podman([...store, 'pull', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, ref], { timeoutMs: 90_000 });
      const inspected = JSON.parse((await env.podman([...store, 'image', 'inspect', ref])).stdout) as Array<{ Digest: string; Id: string }>;
      assert.equal(inspected[0]!.Digest, image.digest);
      assert.equal(`sha256:${inspected[0]!.Id}`, image.manifest.config.digest);
      await env.podman(['logout', registry]);
      const afterLogout = await env.freshStore('pl');
      await assert.rejects(env.podman([...afterLogout, 'pull', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, ref]), /authentication required|unauthorized|401/i);
    });
  });

  describe('token service and policy', () => {
    it('skopeo pushes and pulls through the token flow', STEP, async () => {
      const before = await tokenRequests();
      const ref = `docker://${host(tokenPier)}/alice/small:1`;
      assert.equal(await skopeoCopy(image.ref, ref, '--dest-creds', 'alice:alice-secret', '--dest-cert-dir', certDir), image.digest);
      assert.ok((await tokenRequests()) > before, 'skopeo fetched tokens from /token');
      const layout = await out('token-pulled');
      assert.equal(await skopeoCopy(ref, `oci:${layout}:small`, '--src-creds', 'bob:bob-secret', '--src-cert-dir', certDir), image.digest);
    });

    it('the policy holds: bob may pull alice/* but not push there; nobody anonymous', STEP, async () => {
      await assert.rejects(
        skopeoCopy(image.ref, `docker://${host(tokenPier)}/alice/from-bob:1`, '--dest-creds', 'bob:bob-secret', '--dest-cert-dir', certDir),
        /denied|unauthorized|authentication required|401|403/i,
      );
      await assert.rejects(env.skopeo(['inspect', '--cert-dir', certDir, `docker://${host(tokenPier)}/alice/small:1`]), /unauthorized|authentication required|401/i);
      assert.equal(await skopeoCopy(image.ref, `docker://${host(tokenPier)}/bob/small:1`, '--dest-creds', 'bob:bob-secret', '--dest-cert-dir', certDir), image.digest, 'bob owns bob/*');
    });

    it('anonymous pull of a public repository, and only there', STEP, async () => {
      const ref = `docker://${host(tokenPier)}/public/small:1`;
      assert.equal(await skopeoCopy(image.ref, ref, '--dest-creds', 'alice:alice-secret', '--dest-cert-dir', certDir), image.digest);
      const layout = await out('anonymous');
      assert.equal(await skopeoCopy(ref, `oci:${layout}:small`, '--src-cert-dir', certDir), image.digest, 'no credentials needed');
      await assert.rejects(env.skopeo(['inspect', '--raw', '--cert-dir', certDir, `docker://${host(tokenPier)}/alice/small:1`]), /unauthorized|authentication required|401/i);
    });

    it('podman login, push and pull through the token flow', STEP, async () => {
      const registry = host(tokenPier);
      await env.podman(['login', '--cert-dir', certDir, '-u', 'bob', '-p', 'bob-secret', registry]);
      const ref = `${registry}/bob/podman:1`;
      const digestFile = await out('digest');
      await env.podman(['push', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, '--format', 'oci', '--digestfile', digestFile, image.localName, `docker://${ref}`], { timeoutMs: 90_000 });
      assert.equal(readFileSync(digestFile, 'utf8').trim(), image.digest);
      const store = await env.freshStore('pt');
      await env.podman([...store, 'pull', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, `${registry}/alice/small:1`], { timeoutMs: 90_000 });
      const inspected = JSON.parse((await env.podman([...store, 'image', 'inspect', `${registry}/alice/small:1`])).stdout) as Array<{ Digest: string }>;
      assert.equal(inspected[0]!.Digest, image.digest);
      await assert.rejects(
        env.podman(['push', '--quiet', '--signature-policy', env.policyPath, '--cert-dir', certDir, image.localName, `docker://${registry}/alice/podman:1`], { timeoutMs: 90_000 }),
        /denied|unauthorized|authentication required|401|403/i,
      );
      await env.podman(['logout', registry]);
    });
  });
});
