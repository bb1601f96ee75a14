/**
 * podman and buildah against a real Pier: pushes from local containers-storage (OCI and Docker schema 2, single
 * images and manifest lists), pulls into fresh stores (by tag, by digest, per platform), a `buildah bud` whose
 * FROM is an image in Pier, and `podman search`. Digests are compared end to end: the client's `--digestfile`,
 * the registry's Docker-Content-Digest, the bytes skopeo reads back, and what the pulling store records.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import {
  buildFixtures,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  sha256Digest,
  type Fixtures,
  type ImageIndex,
  type ImageManifest,
} from '../support/images.ts';
import { startPier, type RunningPier } from '../support/pier.ts';
import { requireTools } from '../support/tools.ts';

const TEST_TIMEOUT = { timeout: 90_000 };

/** The fields of `podman image inspect` the tests look at. */
interface PodmanImage {
  Id: string;
  Digest: string;
  RepoDigests: string[];
  RepoTags: string[];
  Architecture: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
}

describe('podman and buildah against Pier', { timeout: 300_000 }, () => {
  let env: ClientEnv;
  let fx: Fixtures;
  let pier: RunningPier;
  let outputs = 0;

  before(async () => {
    requireTools('podman', 'buildah', 'skopeo');
    env = await createClientEnv('pier-podman');
    fx = await buildFixtures(env);
    const dataDir = await env.path('pier-data');
    await mkdir(dataDir, { recursive: true });
    pier = await startPier({ dataDir, deleteEnabled: true });
  }, { timeout: 120_000 });

  after(async () => {
    await pier?.close();
    await env?.close();
  });

  const out = (name: string): Promise<string> => env.path('out', `${++outputs}-${name}`);
  const TLS_OFF = '--tls-verify=false';

  async function readDigest(file: string): Promise<string> {
    const digest = (await readFile(file, 'utf8')).trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/, `digest file ${file}`);
    return digest;
  }

  async function inspectRaw(ref: string, ...flags: string[]): Promise<Buffer> {
    return Buffer.from((await env.skopeo(['inspect', TLS_OFF, '--raw', ...flags, `docker://${ref}`])).stdout, 'utf8');
  }

  /** HEAD the manifest; returns Docker-Content-Digest after checking the status. */
  async function registryDigest(repo: string, reference: string, accept: string): Promise<string | null> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const response = await fetch(`${pier.url}${path}`, {
      method: 'HEAD',
      headers: { Accept: accept },
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(response.status, 200, `HEAD ${path} (Accept: ${accept}) → ${response.status}`);
    return response.headers.get('docker-content-digest');
  }

  /** skopeo copy to dir: and `skopeo manifest-digest` of what arrived. */
  async function pulledManifestDigest(ref: string): Promise<string> {
    const dir = await out('dir');
    await env.skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `dir:${dir}`]);
    return (await env.skopeo(['manifest-digest', join(dir, 'manifest.json')])).stdout.trim();
  }

  async function podmanInspect(store: string[], ref: string): Promise<PodmanImage> {
    const { stdout } = await env.podman([...store, 'image', 'inspect', ref]);
    const [image] = JSON.parse(stdout) as PodmanImage[];
    assert.ok(image, `podman image inspect ${ref}: ${stdout}`);
    return image;
  }

  it('buildah push --format oci: one digest from --digestfile to registry to pulled copy', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    const ref = `${pier.host}/buildah/small:1`;
    await env.buildah([
      'push', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'oci', '--digestfile', digestFile,
      fx.small.localName, `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);

    assert.equal(await registryDigest('buildah/small', '1', OCI_MANIFEST), pushed);
    const raw = await inspectRaw(ref);
    assert.equal(sha256Digest(raw), pushed);
    const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest;
    assert.equal(manifest.mediaType, OCI_MANIFEST);
    assert.equal(manifest.config.digest, fx.small.manifest.config.digest, 'same config as the local image');
    assert.equal(manifest.layers.length, 2);
    assert.equal(await pulledManifestDigest(ref), pushed);
  });

  it('buildah push --format v2s2 stores a Docker schema 2 manifest under the same digest', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    const ref = `${pier.host}/buildah/small-v2s2:1`;
    await env.buildah([
      'push', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'v2s2', '--digestfile',
      digestFile, fx.small.localName, `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);

    assert.equal(await registryDigest('buildah/small-v2s2', '1', DOCKER_MANIFEST), pushed);
    const raw = await inspectRaw(ref);
    assert.equal(sha256Digest(raw), pushed);
    assert.equal((JSON.parse(raw.toString('utf8')) as ImageManifest).mediaType, DOCKER_MANIFEST);
    const config = JSON.parse((await inspectRaw(ref, '--config')).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.rootfs.diff_ids, fx.small.diffIds);
    assert.equal(await pulledManifestDigest(ref), pushed);
  });

  it('buildah manifest push --all pushes the multi-platform OCI index and both images', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    const ref = `${pier.host}/buildah/multi:1`;
    await env.buildah([
      'manifest', 'push', '--quiet', '--all', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'oci',
      '--digestfile', digestFile, fx.multi.listName, `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);

    assert.equal(await registryDigest('buildah/multi', '1', OCI_INDEX), pushed);
    const raw = await inspectRaw(ref);
    assert.equal(sha256Digest(raw), pushed);
    const index = JSON.parse(raw.toString('utf8')) as ImageIndex;
    assert.equal(index.mediaType, OCI_INDEX);
    assert.deepEqual(index.manifests.map((d) => d.platform?.architecture).sort(), ['amd64', 'arm64']);
    for (const entry of index.manifests) {
      const child = await inspectRaw(`${pier.host}/buildah/multi@${entry.digest}`);
      assert.equal(sha256Digest(child), entry.digest);
      assert.equal(child.length, entry.size);
    }
  });

  it('podman push, then podman pull into a fresh store gives the same image', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    const ref = `${pier.host}/podman/small:1`;
    await env.podman([
      'push', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'oci', '--digestfile', digestFile,
      fx.small.localName, `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);
    assert.equal(await registryDigest('podman/small', '1', OCI_MANIFEST), pushed);

    const store = await env.freshStore('podman-pull');
    await env.podman([...store, 'pull', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, ref]);
    const image = await podmanInspect(store, ref);
    assert.equal(image.Digest, pushed, 'the pulled image records the pushed digest');
    assert.ok(image.RepoDigests.includes(`${pier.host}/podman/small@${pushed}`), JSON.stringify(image.RepoDigests));
    assert.equal(`sha256:${image.Id}`, fx.small.manifest.config.digest, 'image ID = config digest');
    assert.deepEqual(image.RootFS.Layers, fx.small.diffIds, 'the layers were downloaded and unpacked');
    assert.equal(image.Architecture, 'amd64');
    assert.equal(image.Os, 'linux');
  });

  it('podman pull by digest into a fresh store', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    await env.podman([
      'push', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'v2s2', '--digestfile',
      digestFile, fx.small.localName, `docker://${pier.host}/podman/by-digest:1`,
    ]);
    const pushed = await readDigest(digestFile);
    const ref = `${pier.host}/podman/by-digest@${pushed}`;

    const store = await env.freshStore('podman-digest');
    await env.podman([...store, 'pull', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, ref]);
    const image = await podmanInspect(store, ref);
    assert.equal(image.Digest, pushed);
    assert.deepEqual(image.RootFS.Layers, fx.small.diffIds);
  });

  it('podman manifest push --all, then podman pull --arch picks each platform', TEST_TIMEOUT, async () => {
    const digestFile = await out('digest');
    const ref = `${pier.host}/podman/multi:1`;
    await env.podman([
      'manifest', 'push', '--quiet', '--all', TLS_OFF, '--format', 'v2s2', '--digestfile', digestFile,
      fx.multi.listName, `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);
    assert.equal(await registryDigest('podman/multi', '1', DOCKER_MANIFEST_LIST), pushed);
    const list = JSON.parse((await inspectRaw(ref)).toString('utf8')) as ImageIndex;
    assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);

    for (const platform of fx.multi.platforms) {
      const arch = platform.platform.architecture;
      const entry = list.manifests.find((d) => d.platform?.architecture === arch);
      assert.ok(entry, `${arch} in ${JSON.stringify(list)}`);
      const store = await env.freshStore(`podman-${arch}`);
      await env.podman([
        ...store, 'pull', '--quiet', '--arch', arch, '--signature-policy', env.policyPath, TLS_OFF, ref,
      ]);
      const image = await podmanInspect(store, ref);
      assert.equal(image.Architecture, arch);
      assert.equal(`sha256:${image.Id}`, platform.manifest.config.digest, `${arch} config`);
      assert.deepEqual(image.RootFS.Layers, platform.diffIds, `${arch} layers`);
      assert.ok(
        image.RepoDigests.includes(`${pier.host}/podman/multi@${entry.digest}`),
        `${arch} instance digest in ${JSON.stringify(image.RepoDigests)}`,
      );
    }
  });

  it('buildah bud FROM an image in Pier pulls the base from Pier, and its push reuses the base layers', TEST_TIMEOUT, async () => {
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', fx.small.ref, `docker://${pier.host}/bud/base:1`]);

    const context = await out('bud-context');
    await mkdir(context);
    await writeFile(join(context, 'extra.txt'), 'added by buildah bud\n');
    await utimes(join(context, 'extra.txt'), 0, 0);
    await writeFile(join(context, 'Containerfile'), `FROM ${pier.host}/bud/base:1\nCOPY extra.txt /extra.txt\n`);

    const store = await env.freshStore('bud');
    await env.buildah([
      ...store, 'bud', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--layers', '--timestamp', '0',
      '--identity-label=false', '-f', join(context, 'Containerfile'), '-t', 'localhost/pier-test/bud:1', context,
    ]);
    const digestFile = await out('digest');
    const ref = `${pier.host}/bud/app:1`;
    await env.buildah([
      ...store, 'push', '--quiet', '--signature-policy', env.policyPath, TLS_OFF, '--format', 'oci',
      '--digestfile', digestFile, 'localhost/pier-test/bud:1', `docker://${ref}`,
    ]);
    const pushed = await readDigest(digestFile);

    const raw = await inspectRaw(ref);
    assert.equal(sha256Digest(raw), pushed);
    const manifest = JSON.parse(raw.toString('utf8')) as ImageManifest;
    assert.equal(manifest.layers.length, 3);
    assert.equal(manifest.annotations?.['org.opencontainers.image.base.digest'], fx.small.digest);
    const config = JSON.parse((await inspectRaw(ref, '--config')).toString('utf8')) as {
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.rootfs.diff_ids.slice(0, 2), fx.small.diffIds, 'the base layers came from Pier');
    assert.equal(await pulledManifestDigest(ref), pushed);
  });

  it('podman search lists repositories from the catalog, and --list-tags their tags', TEST_TIMEOUT, async () => {
    for (const target of ['search/alpha:1', 'search/alpha:2', 'search/beta:1']) {
      await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', fx.small.ref, `docker://${pier.host}/${target}`]);
    }
    const found = JSON.parse(
      (await env.podman(['search', TLS_OFF, '--format', 'json', `${pier.host}/search`])).stdout,
    ) as { Name: string }[];
    assert.deepEqual(
      found.map((r) => r.Name).filter((name) => name.startsWith(`${pier.host}/search/`)).sort(),
      [`${pier.host}/search/alpha`, `${pier.host}/search/beta`],
    );

    const tags = JSON.parse(
      (await env.podman(['search', TLS_OFF, '--list-tags', '--format', 'json', `${pier.host}/search/alpha`])).stdout,
    ) as { Name: string; Tags: string[] }[];
    assert.deepEqual(
      tags.map((t) => ({ Name: t.Name, Tags: [...t.Tags].sort() })),
      [{ Name: `${pier.host}/search/alpha`, Tags: ['1', '2'] }],
    );
  });
});
