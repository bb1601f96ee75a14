/**
 * Real clients pulling through Pier's pull-through cache. Upstreams are local processes: Debian's
 * `docker-registry` behind a token service (the way Docker Hub's auth works), a second one whose token realm
 * is on another host (it must get no credentials), and a second Pier. Pier runs as a process from a
 * config.yml using the reference registry's `proxy` section plus Pier's `proxy.upstreams`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { startTokenService, type TokenService } from '../support/token-service.ts';
import { startCountingProxy, type CountingProxy } from '../support/counting-proxy.ts';
import { startPier, type RunningPier } from '../support/pier.ts';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { startContainerd, type Containerd } from '../support/containerd.ts';
import { requireTools } from '../support/tools.ts';

const USER = 'mirror-user';
const PASSWORD = 'mirror-secret';

function tokenAuth(tokens: TokenService): string[] {
  return ['auth:', '  token:', `    realm: ${tokens.realm}`, `    service: ${tokens.service}`, `    issuer: ${tokens.issuer}`, `    rootcertbundle: ${tokens.certFile}`];
}

describe('real clients pull through the cache', { timeout: 150_000 }, () => {
  let dir: string;
  let env: ClientEnv;
  let image: SmallImage;
  let hubTokens: TokenService;
  let foreignTokens: TokenService;
  let hub: RunningReference;
  let foreign: RunningReference;
  let secondPier: RunningPier;
  let proxy: CountingProxy;
  let mirror: PierProcess;
  let mirrorHost: string;
  let containerd: Containerd | undefined;

  before(async () => {
    requireTools('skopeo', 'podman', 'buildah', 'docker-registry', 'openssl', 'containerd', 'ctr', 'unshare');
    dir = mkdtempSync(join(tmpdir(), 'pier-mirror-clients-'));
    env = await createClientEnv('pier-mirror');
    const built = buildSmallImage(env);
    hubTokens = await startTokenService(dir, { user: USER, password: PASSWORD });
    foreignTokens = await startTokenService(dir, { host: '127.0.0.2', user: USER, password: PASSWORD });
    hub = await startReferenceRegistry({ dataDir: join(dir, 'hub'), extraConfig: tokenAuth(hubTokens), readyStatus: 401 });
    foreign = await startReferenceRegistry({ dataDir: join(dir, 'foreign'), extraConfig: tokenAuth(foreignTokens), readyStatus: 401 });
    secondPier = await startPier();
    proxy = await startCountingProxy(hub.url);
    image = await built;
    const push = (dest: string, creds?: string) =>
      env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : []), image.ref, `docker://${dest}`]);
    await push(`${hub.host}/library/small:1`, `${USER}:${PASSWORD}`);
    await push(`${foreign.host}/vendor/small:1`, `${USER}:${PASSWORD}`);
    await push(`${secondPier.host}/team/small:1`);
    foreignTokens.requests.length = 0;
    hubTokens.requests.length = 0;

    const config = join(dir, 'mirror.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'mirror-data')}`,
        'proxy:',
        `  remoteurl: ${proxy.url}`,
        `  username: ${USER}`,
        `  password: ${PASSWORD}`,
        '  upstreams:',
        '    - name: second',
        '      prefix: pier2/',
        `      remoteurl: ${secondPier.url}`,
        '    - name: vendor',
        '      prefix: foreign/',
        `      remoteurl: ${foreign.url}`,
        `      username: ${USER}`,
        `      password: ${PASSWORD}`,
        '',
      ].join('\n'),
    );
    mirror = await startPierProcess(join(dir, 'mirror-data'), ['--config', config]);
    mirrorHost = mirror.url.replace('http://', '');
  });

  after(async () => {
    await containerd?.close();
    await mirror?.stop();
    await proxy?.close();
    await secondPier?.close();
    await hub?.close();
    await foreign?.close();
    await hubTokens?.close();
    await foreignTokens?.close();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const blobGets = () => proxy.count('GET', /\/blobs\/sha256:/);

  it('skopeo and podman pull with identical digests; a second pull into a fresh store fetches no blob upstream', async () => {
    const inspected = await env.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${mirrorHost}/library/small:1`]);
    assert.equal(inspected.stdout.trim(), image.manifestBytes.toString('utf8').trim(), 'the exact manifest bytes');
    const layout = await env.path('pulled', 'skopeo');
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${mirrorHost}/library/small:1`, `oci:${layout}:small`]);
    assert.ok(blobGets() >= 3, 'config and both layers came from the upstream');
    assert.ok(hubTokens.requests.some((r) => r.authorization !== undefined), 'the same-site realm received the credentials');
    const digestFile = await env.path('pulled', 'podman-digest');
    await env.podman(['pull', '--quiet', '--tls-verify=false', ...(await env.freshStore('podman-1')), `${mirrorHost}/library/small:1`]);
    const fetched = blobGets();
    const out = await env.podman(['pull', '--tls-verify=false', ...(await env.freshStore('podman-2')), `${mirrorHost}/library/small:1`]);
    assert.equal(blobGets(), fetched, 'no upstream blob request for a cached image');
    assert.match(out.stdout, new RegExp(image.manifest.config.digest.slice('sha256:'.length)), 'podman has the same image id');
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${mirrorHost}/library/small:1`, `oci:${digestFile}:small`]);
    assert.equal(blobGets(), fetched);
  });

  it('containerd: ctr images pull with a hosts.toml mirror for docker.io', async () => {
    containerd = await startContainerd(join(dir, 'containerd'));
    const hostsDir = join(dir, 'certs.d');
    mkdirSync(join(hostsDir, 'docker.io'), { recursive: true });
    writeFileSync(join(hostsDir, 'docker.io', 'hosts.toml'), ['server = "https://registry-1.docker.io"', '', `[host."http://${mirrorHost}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'));
    await env.run('ctr', [...containerd.ctrArgs, 'images', 'pull', '--hosts-dir', hostsDir, '--snapshotter', 'native', '--platform', 'linux/amd64', 'docker.io/library/small:1'], { timeoutMs: 60_000 });
    const listed = await env.run('ctr', [...containerd.ctrArgs, 'images', 'ls']);
    assert.match(listed.stdout, new RegExp(`docker.io/library/small:1\\s.*${image.digest}`), 'pulled with the same digest (there is no docker.io here: Pier served it)');
  });

  it('podman with a registries.conf mirror for docker.io', async () => {
    const conf = await env.path('registries-mirror.conf');
    writeFileSync(conf, ['unqualified-search-registries = []', '', '[[registry]]', 'prefix = "docker.io"', 'location = "docker.io"', '', '[[registry.mirror]]', `location = "${mirrorHost}"`, 'insecure = true', ''].join('\n'));
    const out = await env.podman(['pull', ...(await env.freshStore('podman-mirror')), 'docker.io/library/small:1'], { env: { CONTAINERS_REGISTRIES_CONF: conf } });
    assert.match(out.stdout, new RegExp(image.manifest.config.digest.slice('sha256:'.length)));
  });

  it('two more upstreams by prefix; a realm on a foreign host gets no credentials', async () => {
    const second = await env.skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${mirrorHost}/pier2/team/small:1`]);
    assert.equal(second.stdout.trim(), image.manifestBytes.toString('utf8').trim());
    const layout = await env.path('pulled', 'vendor');
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${mirrorHost}/foreign/vendor/small:1`, `oci:${layout}:small`]);
    assert.ok(foreignTokens.requests.length > 0, 'the foreign realm was asked for a token');
    assert.deepEqual(foreignTokens.requests.filter((r) => r.authorization !== undefined), [], 'and was sent no credentials');
    // Pushes to a proxied repository are refused, as with registry:2 in proxy mode.
    await assert.rejects(env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', image.ref, `docker://${mirrorHost}/library/pushed:1`]), /UNSUPPORTED|not supported|405/i);
  });
});
