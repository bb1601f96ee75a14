/**
 * skopeo against a real Pier: copies in and out through oci:, dir:, docker-archive:, multi-platform indexes
 * (OCI and Docker manifest list), inspect, list-tags, delete, and an OCI artifact found through the referrers API.
 * Every digest is compared end to end: fixture layout → `--digestfile` → registry headers → pulled copy.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import {
  buildFixtures,
  DOCKER_CONFIG,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  readLayoutBlob,
  readLayoutDescriptor,
  sha256Digest,
  type Fixtures,
  type ImageIndex,
  type ImageManifest,
} from '../support/images.ts';
import { startPier, type RunningPier } from '../support/pier.ts';
import { requireTools } from '../support/tools.ts';

const TEST_TIMEOUT = { timeout: 90_000 };

interface HttpResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

describe('skopeo against Pier', { timeout: 300_000 }, () => {
  let env: ClientEnv;
  let fx: Fixtures;
  let pier: RunningPier;
  let outputs = 0;

  before(async () => {
    requireTools('skopeo', 'buildah');
    env = await createClientEnv('pier-skopeo');
    fx = await buildFixtures(env);
    const dataDir = await env.path('pier-data');
    await mkdir(dataDir, { recursive: true });
    pier = await startPier({ dataDir, deleteEnabled: true });
  }, { timeout: 120_000 });

  after(async () => {
    await pier?.close();
    await env?.close();
  });

  const docker = (repoAndRef: string): string => `docker://${pier.host}/${repoAndRef}`;
  const out = (name: string): Promise<string> => env.path('out', `${++outputs}-${name}`);

  /** skopeo copy SRC DEST [flags]; returns the digest skopeo wrote to --digestfile. */
  async function copy(src: string, dest: string, ...flags: string[]): Promise<string> {
    const digestFile = await out('digest');
    await env.skopeo([
      'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', digestFile,
      ...flags, src, dest,
    ]);
    const digest = (await readFile(digestFile, 'utf8')).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/, `--digestfile of ${src} → ${dest}`);
    return digest;
  }

  async function inspectRaw(ref: string, ...flags: string[]): Promise<Buffer> {
    return Buffer.from((await env.skopeo(['inspect', '--tls-verify=false', '--raw', ...flags, ref])).stdout, 'utf8');
  }

  async function inspect(ref: string, ...globalFlags: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await env.skopeo([...globalFlags, 'inspect', '--tls-verify=false', ref]);
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  async function manifestDigest(path: string): Promise<string> {
    return (await env.skopeo(['manifest-digest', path])).stdout.trim();
  }

  async function http(method: string, path: string, headers: Record<string, string> = {}): Promise<HttpResponse> {
    const response = await fetch(`${pier.url}${path}`, { method, headers, signal: AbortSignal.timeout(15_000) });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  }

  function describeResponse(method: string, path: string, r: HttpResponse): string {
    return `${method} ${path} → ${r.status} ${JSON.stringify(Object.fromEntries(r.headers))} ${r.body.toString('utf8').slice(0, 2000)}`;
  }

  it('pushes an OCI layout image and pulls it back byte for byte (oci:)', TEST_TIMEOUT, async () => {
    const pushed = await copy(fx.small.ref, docker('skopeo/small:1'));
    assert.equal(pushed, fx.small.digest, 'digest pushed to Pier = digest of the fixture manifest');

    const layout = await out('oci');
    const pulled = await copy(docker('skopeo/small:1'), `oci:${layout}:pulled`);
    assert.equal(pulled, fx.small.digest, 'digest pulled from Pier = digest pushed');

    const descriptor = await readLayoutDescriptor(layout, 'pulled');
    assert.equal(descriptor.digest, fx.small.digest);
    assert.equal(descriptor.mediaType, OCI_MANIFEST);
    const manifestBytes = await readLayoutBlob(layout, descriptor.digest);
    assert.ok(manifestBytes.equals(fx.small.manifestBytes), 'manifest bytes survive the round trip');
    assert.equal(await manifestDigest(join(layout, 'blobs', 'sha256', fx.small.digest.slice(7))), fx.small.digest);
    for (const blob of [fx.small.manifest.config, ...fx.small.manifest.layers]) {
      const ours = await readLayoutBlob(fx.small.layoutDir, blob.digest);
      const theirs = await readLayoutBlob(layout, blob.digest);
      assert.ok(theirs.equals(ours), `blob ${blob.digest} survives the round trip`);
    }
  });

  it('skopeo inspect and inspect --raw report exactly what was pushed', TEST_TIMEOUT, async () => {
    await copy(fx.small.ref, docker('skopeo/inspect:1'));

    const raw = await inspectRaw(docker('skopeo/inspect:1'));
    assert.ok(raw.equals(fx.small.manifestBytes), `inspect --raw returns the pushed bytes, got ${raw}`);
    const byDigest = await inspectRaw(docker(`skopeo/inspect@${fx.small.digest}`));
    assert.ok(byDigest.equals(fx.small.manifestBytes), 'the manifest is also reachable by digest');
    const config = await inspectRaw(docker('skopeo/inspect:1'), '--config');
    assert.ok(config.equals(fx.small.configBytes), `inspect --config --raw returns the config blob, got ${config}`);

    const info = await inspect(docker('skopeo/inspect:1'));
    assert.equal(info.Name, `${pier.host}/skopeo/inspect`);
    assert.equal(info.Digest, fx.small.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(info.Layers, fx.small.manifest.layers.map((l) => l.digest));
    assert.deepEqual(info.Labels, { 'org.example.fixture': 'small' });
    assert.ok((info.Env as string[]).includes('PIER_FIXTURE=small'), `Env: ${JSON.stringify(info.Env)}`);

    const path = '/v2/skopeo/inspect/manifests/1';
    const head = await http('HEAD', path, { Accept: OCI_MANIFEST });
    assert.equal(head.status, 200, describeResponse('HEAD', path, head));
    assert.equal(head.headers.get('docker-content-digest'), fx.small.digest, describeResponse('HEAD', path, head));
    assert.equal(head.headers.get('content-length'), String(fx.small.manifestBytes.length));
  });

  it('round-trips through dir: with the same digest', TEST_TIMEOUT, async () => {
    await copy(fx.small.ref, docker('skopeo/dir-src:1'));
    const dir = await out('dir');
    const pulled = await copy(docker('skopeo/dir-src:1'), `dir:${dir}`);
    assert.equal(pulled, fx.small.digest);

    const manifestBytes = await readFile(join(dir, 'manifest.json'));
    assert.ok(manifestBytes.equals(fx.small.manifestBytes), 'dir:/manifest.json holds the pushed bytes');
    assert.equal(await manifestDigest(join(dir, 'manifest.json')), fx.small.digest);
    for (const layer of fx.small.manifest.layers) {
      const bytes = await readFile(join(dir, layer.digest.slice('sha256:'.length)));
      assert.equal(sha256Digest(bytes), layer.digest, `layer ${layer.digest} in dir:`);
    }

    const pushed = await copy(`dir:${dir}`, docker('skopeo/from-dir:1'));
    assert.equal(pushed, fx.small.digest, 'pushing the dir: copy gives the same digest');
    assert.ok((await inspectRaw(docker('skopeo/from-dir:1'))).equals(fx.small.manifestBytes));
  });

  it('round-trips through docker-archive: (a Docker schema 2 image with the same layers)', TEST_TIMEOUT, async () => {
    await copy(fx.small.ref, docker('skopeo/archive-src:1'));
    const archive = await out('image.tar');
    await env.skopeo([
      'copy', '--quiet', '--src-tls-verify=false', docker('skopeo/archive-src:1'),
      `docker-archive:${archive}:skopeo/archive:1`,
    ]);

    const pushed = await copy(`docker-archive:${archive}`, docker('skopeo/from-archive:1'));
    const raw = await inspectRaw(docker('skopeo/from-archive:1'));
    assert.equal(sha256Digest(raw), pushed, '--digestfile = sha256 of the manifest Pier serves');
    const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest;
    assert.equal(manifest.mediaType, DOCKER_MANIFEST);
    assert.equal(manifest.layers.length, 2);
    const config = JSON.parse((await inspectRaw(docker('skopeo/from-archive:1'), '--config')).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
      architecture: string;
    };
    assert.deepEqual(config.rootfs.diff_ids, fx.small.diffIds, 'same filesystem layers as the fixture');
    assert.equal(config.architecture, 'amd64');

    const dir = await out('dir-from-archive');
    assert.equal(await copy(docker('skopeo/from-archive:1'), `dir:${dir}`), pushed);
    assert.equal(await manifestDigest(join(dir, 'manifest.json')), pushed);
  });

  it('--format v2s2 stores and serves a Docker schema 2 manifest', TEST_TIMEOUT, async () => {
    const pushed = await copy(fx.small.ref, docker('skopeo/v2s2:1'), '--format', 'v2s2');
    assert.notEqual(pushed, fx.small.digest, 'conversion to Docker schema 2 gives a new manifest');

    const raw = await inspectRaw(docker('skopeo/v2s2:1'));
    assert.equal(sha256Digest(raw), pushed);
    const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest;
    assert.equal(manifest.schemaVersion, 2);
    assert.equal(manifest.mediaType, DOCKER_MANIFEST);
    assert.equal(manifest.config.mediaType, DOCKER_CONFIG);
    assert.deepEqual(
      manifest.layers.map((l) => [l.mediaType, l.digest]),
      fx.small.manifest.layers.map((l) => ['application/vnd.docker.image.rootfs.diff.tar.gzip', l.digest]),
      'the same compressed layers, with Docker media types',
    );

    const path = '/v2/skopeo/v2s2/manifests/1';
    const get = await http('GET', path, { Accept: DOCKER_MANIFEST });
    assert.equal(get.status, 200, describeResponse('GET', path, get));
    assert.equal(get.headers.get('content-type'), DOCKER_MANIFEST, describeResponse('GET', path, get));
    assert.equal(get.headers.get('docker-content-digest'), pushed);
    assert.ok(get.body.equals(raw));

    const dir = await out('dir-v2s2');
    assert.equal(await copy(docker('skopeo/v2s2:1'), `dir:${dir}`), pushed);
    assert.equal(await manifestDigest(join(dir, 'manifest.json')), pushed);
  });

  it('copy --all pushes a multi-platform OCI index and every platform, and pulls it back', TEST_TIMEOUT, async () => {
    const pushed = await copy(fx.multi.ref, docker('skopeo/multi:1'), '--all');
    assert.equal(pushed, fx.multi.digest, 'index digest unchanged by the push');

    const raw = await inspectRaw(docker('skopeo/multi:1'));
    assert.ok(raw.equals(fx.multi.manifestBytes), `inspect --raw returns the index bytes, got ${raw}`);
    for (const platform of fx.multi.platforms) {
      const child = await inspectRaw(docker(`skopeo/multi@${platform.digest}`));
      assert.ok(child.equals(platform.manifestBytes), `${platform.platform.architecture} manifest by digest`);
    }
    const arm = fx.multi.platforms.find((p) => p.platform.architecture === 'arm64');
    assert.ok(arm);
    const armInfo = await inspect(docker('skopeo/multi:1'), '--override-arch', 'arm64', '--override-os', 'linux');
    assert.equal(armInfo.Architecture, 'arm64');
    assert.deepEqual(armInfo.Layers, arm.manifest.layers.map((l) => l.digest));

    const layout = await out('oci-multi');
    assert.equal(await copy(docker('skopeo/multi:1'), `oci:${layout}:multi`, '--all'), fx.multi.digest);
    const descriptor = await readLayoutDescriptor(layout, 'multi');
    assert.equal(descriptor.digest, fx.multi.digest);
    assert.equal(descriptor.mediaType, OCI_INDEX);
    for (const platform of fx.multi.platforms) {
      assert.ok((await readLayoutBlob(layout, platform.digest)).equals(platform.manifestBytes));
      for (const layer of platform.manifest.layers) await readLayoutBlob(layout, layer.digest);
    }
  });

  it('copy --all --format v2s2 pushes a Docker manifest list of Docker schema 2 manifests', TEST_TIMEOUT, async () => {
    const pushed = await copy(fx.multi.ref, docker('skopeo/multi-v2s2:1'), '--all', '--format', 'v2s2');
    const raw = await inspectRaw(docker('skopeo/multi-v2s2:1'));
    assert.equal(sha256Digest(raw), pushed);
    const list = JSON.parse(raw.toString('utf8')) as ImageIndex;
    assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);
    assert.deepEqual(
      list.manifests.map((d) => [d.mediaType, d.platform?.os, d.platform?.architecture]).sort(),
      [
        [DOCKER_MANIFEST, 'linux', 'amd64'],
        [DOCKER_MANIFEST, 'linux', 'arm64'],
      ],
    );
    for (const entry of list.manifests) {
      const child = await inspectRaw(docker(`skopeo/multi-v2s2@${entry.digest}`));
      assert.equal(sha256Digest(child), entry.digest);
      assert.equal(child.length, entry.size);
      assert.equal((JSON.parse(child.toString('utf8')) as ImageManifest).mediaType, DOCKER_MANIFEST);
    }

    const path = '/v2/skopeo/multi-v2s2/manifests/1';
    const get = await http('GET', path, { Accept: DOCKER_MANIFEST_LIST });
    assert.equal(get.status, 200, describeResponse('GET', path, get));
    assert.equal(get.headers.get('content-type'), DOCKER_MANIFEST_LIST, describeResponse('GET', path, get));
    assert.equal(get.headers.get('docker-content-digest'), pushed);

    const dir = await out('dir-list');
    assert.equal(await copy(docker('skopeo/multi-v2s2:1'), `dir:${dir}`, '--all'), pushed);
    assert.equal(await manifestDigest(join(dir, 'manifest.json')), pushed);
  });

  it('list-tags lists exactly the tags of the repository', TEST_TIMEOUT, async () => {
    for (const tag of ['1.0', '1.1', 'latest']) await copy(fx.small.ref, docker(`skopeo/tags:${tag}`));
    await copy(fx.small.ref, docker('skopeo/tags-other:not-mine'));

    const { stdout } = await env.skopeo(['list-tags', '--tls-verify=false', docker('skopeo/tags')]);
    const listed = JSON.parse(stdout) as { Repository: string; Tags: string[] };
    assert.equal(listed.Repository, `${pier.host}/skopeo/tags`);
    assert.deepEqual([...listed.Tags].sort(), ['1.0', '1.1', 'latest']);
  });

  it('delete removes the manifest, so its tags are gone, and nothing else', TEST_TIMEOUT, async () => {
    const oci = await copy(fx.small.ref, docker('skopeo/del:a'));
    await copy(fx.small.ref, docker('skopeo/del:b'));
    const kept = await copy(fx.small.ref, docker('skopeo/del:keep'), '--format', 'v2s2');
    await copy(fx.small.ref, docker('skopeo/del-other:1'));

    await env.skopeo(['delete', '--tls-verify=false', docker('skopeo/del:a')]);

    await assert.rejects(inspectRaw(docker('skopeo/del:a')), /manifest unknown/i);
    await assert.rejects(inspectRaw(docker('skopeo/del:b')), /manifest unknown/i, 'b pointed at the same manifest');
    const path = `/v2/skopeo/del/manifests/${oci}`;
    const get = await http('GET', path, { Accept: OCI_MANIFEST });
    assert.equal(get.status, 404, describeResponse('GET', path, get));
    assert.equal(
      (JSON.parse(get.body.toString('utf8')) as { errors: { code: string }[] }).errors[0]?.code,
      'MANIFEST_UNKNOWN',
      describeResponse('GET', path, get),
    );

    const { stdout } = await env.skopeo(['list-tags', '--tls-verify=false', docker('skopeo/del')]);
    assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['keep']);
    assert.equal(sha256Digest(await inspectRaw(docker('skopeo/del:keep'))), kept);
    assert.ok((await inspectRaw(docker('skopeo/del-other:1'))).equals(fx.small.manifestBytes), 'other repo intact');
  });

  it('finds an OCI artifact with a subject through GET /v2/<name>/referrers/<digest>', TEST_TIMEOUT, async () => {
    await copy(fx.small.ref, docker('skopeo/signed:1'));
    const pushed = await copy(fx.artifact.ref, docker(`skopeo/signed@${fx.artifact.digest}`));
    assert.equal(pushed, fx.artifact.digest, 'the artifact is pushed byte for byte');
    assert.ok((await inspectRaw(docker(`skopeo/signed@${fx.artifact.digest}`))).equals(fx.artifact.manifestBytes));

    const path = `/v2/skopeo/signed/referrers/${fx.small.digest}`;
    const response = await http('GET', path);
    const what = describeResponse('GET', path, response);
    assert.equal(response.status, 200, what);
    assert.equal(response.headers.get('content-type')?.split(';')[0]?.trim(), OCI_INDEX, what);
    const index = JSON.parse(response.body.toString('utf8')) as ImageIndex;
    assert.equal(index.schemaVersion, 2, what);
    assert.equal(index.mediaType, OCI_INDEX, what);
    assert.deepEqual(
      index.manifests,
      [
        {
          mediaType: OCI_MANIFEST,
          digest: fx.artifact.digest,
          size: fx.artifact.manifestBytes.length,
          artifactType: fx.artifact.artifactType,
          annotations: fx.artifact.manifest.annotations,
        },
      ],
      what,
    );

    const layout = await out('oci-artifact');
    assert.equal(await copy(docker(`skopeo/signed@${fx.artifact.digest}`), `oci:${layout}:sbom`), fx.artifact.digest);
    assert.ok((await readLayoutBlob(layout, fx.artifact.digest)).equals(fx.artifact.manifestBytes));
    assert.ok((await readLayoutBlob(layout, fx.artifact.manifest.layers[0]!.digest)).equals(fx.artifact.payload));
  });

  it('answers the referrers API with an empty index for a manifest nobody refers to', TEST_TIMEOUT, async () => {
    await copy(fx.small.ref, docker('skopeo/lonely:1'));
    const path = `/v2/skopeo/lonely/referrers/${fx.small.digest}`;
    const response = await http('GET', path);
    const what = describeResponse('GET', path, response);
    assert.equal(response.status, 200, what);
    assert.equal(response.headers.get('content-type')?.split(';')[0]?.trim(), OCI_INDEX, what);
    const index = JSON.parse(response.body.toString('utf8')) as ImageIndex;
    assert.equal(index.schemaVersion, 2, what);
    assert.deepEqual(index.manifests, [], what);
  });
});
