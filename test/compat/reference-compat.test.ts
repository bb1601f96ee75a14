/**
 * On-disk compatibility with the reference registry (CNCF Distribution 2.8, Debian's `docker-registry`), both ways:
 *
 * (a) images pushed with skopeo to the reference, which is then stopped; Pier started on the same data dir
 *     (rebuilding its index from storage) must serve every image with the same digests, the catalog, the tags,
 *     the referrers of an artifact, keep a deleted manifest deleted, and accept new pushes;
 * (b) images pushed to Pier, which is then stopped; the reference started on Pier's data dir must serve them all.
 *
 * The reference 2.8 hides OCI manifests from GET-by-tag without an OCI Accept header (skopeo sends one; the raw
 * HTTP checks here do too) and has no referrers API, so referrers are only checked on Pier.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import {
  buildFixtures,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  readLayoutBlob,
  readLayoutDescriptor,
  type Fixtures,
  type ImageIndex,
} from '../support/images.ts';
import { startPier, type RunningPier } from '../support/pier.ts';
import { startReferenceRegistry, type RunningReference } from '../support/reference-registry.ts';
import { requireTools } from '../support/tools.ts';

const TEST_TIMEOUT = { timeout: 90_000 };
const SETUP_TIMEOUT = { timeout: 120_000 };

/** What a registry under test exposes to these checks. */
interface Target {
  url: string;
  host: string;
}

/** Digests recorded by skopeo's --digestfile while pushing the data set. */
interface Pushed {
  small: string;
  v2s2: string;
  multi: string;
  multiV2s2: string;
  artifact: string;
  /** Pushed to compat/gone:1 and then deleted. */
  gone: string;
}

/** Repositories the data set leaves with live content (compat/gone had its only manifest deleted). */
const LIVE_REPOSITORIES = ['compat/multi', 'compat/multi-v2s2', 'compat/small', 'compat/v2s2'];

describe('on-disk compatibility with the reference registry (docker-registry 2.8)', { timeout: 600_000 }, () => {
  let env: ClientEnv;
  let fx: Fixtures;
  let outputs = 0;

  before(async () => {
    requireTools('skopeo', 'buildah', 'docker-registry');
    env = await createClientEnv('pier-compat');
    fx = await buildFixtures(env);
  }, SETUP_TIMEOUT);

  after(async () => {
    await env?.close();
  });

  const out = (name: string): Promise<string> => env.path('out', `${++outputs}-${name}`);

  async function copy(src: string, dest: string, ...flags: string[]): Promise<string> {
    const digestFile = await out('digest');
    await env.skopeo([
      'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', digestFile,
      ...flags, src, dest,
    ]);
    return (await readFile(digestFile, 'utf8')).trim();
  }

  async function inspectRaw(ref: string): Promise<Buffer> {
    return Buffer.from((await env.skopeo(['inspect', '--tls-verify=false', '--raw', ref])).stdout, 'utf8');
  }

  async function get(target: Target, path: string, accept?: string): Promise<{ status: number; body: string; what: string }> {
    const response = await fetch(`${target.url}${path}`, {
      headers: accept === undefined ? {} : { Accept: accept },
      signal: AbortSignal.timeout(15_000),
    });
    const body = await response.text();
    const what = `GET ${target.url}${path} → ${response.status} ${JSON.stringify(Object.fromEntries(response.headers))} ${body.slice(0, 2000)}`;
    return { status: response.status, body, what };
  }

  /** Pushes the data set with skopeo: OCI image (2 tags), Docker schema 2 image, OCI index, Docker list, artifact. */
  async function pushDataSet(target: Target): Promise<Pushed> {
    const d = (ref: string): string => `docker://${target.host}/${ref}`;
    const small = await copy(fx.small.ref, d('compat/small:1'));
    await copy(fx.small.ref, d('compat/small:latest'));
    const v2s2 = await copy(fx.small.ref, d('compat/v2s2:1'), '--format', 'v2s2');
    const multi = await copy(fx.multi.ref, d('compat/multi:1'), '--all');
    const multiV2s2 = await copy(fx.multi.ref, d('compat/multi-v2s2:1'), '--all', '--format', 'v2s2');
    const artifact = await copy(fx.artifact.ref, d(`compat/small@${fx.artifact.digest}`));
    const gone = await copy(fx.small.ref, d('compat/gone:1'), '--format', 'v2s2');
    await env.skopeo(['delete', '--tls-verify=false', d('compat/gone:1')]);
    assert.equal(small, fx.small.digest);
    assert.equal(multi, fx.multi.digest);
    assert.equal(artifact, fx.artifact.digest);
    assert.equal(gone, v2s2, 'same Docker schema 2 manifest in two repositories');
    return { small, v2s2, multi, multiV2s2, artifact, gone };
  }

  /** The checks both directions share: every pushed image comes back with its digest, catalog, tags, deletes. */
  function servesTheDataSet(label: string, target: () => Target, pushed: () => Pushed): void {
    const d = (ref: string): string => `docker://${target().host}/${ref}`;

    it(`${label}: serves the OCI image by both tags with the same digest and bytes`, TEST_TIMEOUT, async () => {
      for (const tag of ['1', 'latest']) {
        assert.ok((await inspectRaw(d(`compat/small:${tag}`))).equals(fx.small.manifestBytes), `compat/small:${tag}`);
      }
      const layout = await out('oci-small');
      assert.equal(await copy(d('compat/small:1'), `oci:${layout}:small`), pushed().small);
      assert.equal((await readLayoutDescriptor(layout, 'small')).digest, fx.small.digest);
      for (const blob of [fx.small.manifest.config, ...fx.small.manifest.layers]) {
        const original = await readLayoutBlob(fx.small.layoutDir, blob.digest);
        assert.ok((await readLayoutBlob(layout, blob.digest)).equals(original), `blob ${blob.digest}`);
      }
      const head = await get(target(), '/v2/compat/small/manifests/1', OCI_MANIFEST);
      assert.equal(head.status, 200, head.what);
    });

    it(`${label}: serves the Docker schema 2 image with the same digest`, TEST_TIMEOUT, async () => {
      const dir = await out('dir-v2s2');
      assert.equal(await copy(d('compat/v2s2:1'), `dir:${dir}`), pushed().v2s2);
      assert.equal((await env.skopeo(['manifest-digest', join(dir, 'manifest.json')])).stdout.trim(), pushed().v2s2);
      const response = await get(target(), '/v2/compat/v2s2/manifests/1', DOCKER_MANIFEST);
      assert.equal(response.status, 200, response.what);
    });

    it(`${label}: serves the OCI index and both platforms with the same digests`, TEST_TIMEOUT, async () => {
      assert.ok((await inspectRaw(d('compat/multi:1'))).equals(fx.multi.manifestBytes));
      const layout = await out('oci-multi');
      assert.equal(await copy(d('compat/multi:1'), `oci:${layout}:multi`, '--all'), pushed().multi);
      for (const platform of fx.multi.platforms) {
        assert.ok((await readLayoutBlob(layout, platform.digest)).equals(platform.manifestBytes));
        for (const layer of platform.manifest.layers) await readLayoutBlob(layout, layer.digest);
      }
    });

    it(`${label}: serves the Docker manifest list and its manifests with the same digests`, TEST_TIMEOUT, async () => {
      const dir = await out('dir-list');
      assert.equal(await copy(d('compat/multi-v2s2:1'), `dir:${dir}`, '--all'), pushed().multiV2s2);
      const list = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ImageIndex;
      assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);
      for (const entry of list.manifests) {
        const child = await get(target(), `/v2/compat/multi-v2s2/manifests/${entry.digest}`, DOCKER_MANIFEST);
        assert.equal(child.status, 200, child.what);
      }
    });

    it(`${label}: serves the artifact by digest, byte for byte`, TEST_TIMEOUT, async () => {
      assert.ok((await inspectRaw(d(`compat/small@${fx.artifact.digest}`))).equals(fx.artifact.manifestBytes));
      const layout = await out('oci-artifact');
      assert.equal(await copy(d(`compat/small@${fx.artifact.digest}`), `oci:${layout}:sbom`), pushed().artifact);
      assert.ok((await readLayoutBlob(layout, fx.artifact.manifest.layers[0]!.digest)).equals(fx.artifact.payload));
    });

    it(`${label}: lists the repositories in /v2/_catalog`, TEST_TIMEOUT, async () => {
      const response = await get(target(), '/v2/_catalog');
      assert.equal(response.status, 200, response.what);
      const { repositories } = JSON.parse(response.body) as { repositories: string[] };
      // compat/gone may or may not be listed once its only manifest is deleted; every other one must be, in order.
      assert.deepEqual(repositories.filter((r) => r !== 'compat/gone'), LIVE_REPOSITORIES, response.what);
    });

    it(`${label}: lists the tags of each repository`, TEST_TIMEOUT, async () => {
      const response = await get(target(), '/v2/compat/small/tags/list');
      assert.equal(response.status, 200, response.what);
      const list = JSON.parse(response.body) as { name: string; tags: string[] };
      assert.equal(list.name, 'compat/small');
      assert.deepEqual([...list.tags].sort(), ['1', 'latest'], response.what);
      const { stdout } = await env.skopeo(['list-tags', '--tls-verify=false', d('compat/multi')]);
      assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['1']);
    });

    it(`${label}: keeps the deleted manifest deleted, and its twin in another repository alive`, TEST_TIMEOUT, async () => {
      const byTag = await get(target(), '/v2/compat/gone/manifests/1', DOCKER_MANIFEST);
      assert.equal(byTag.status, 404, byTag.what);
      const byDigest = await get(target(), `/v2/compat/gone/manifests/${pushed().gone}`, DOCKER_MANIFEST);
      assert.equal(byDigest.status, 404, byDigest.what);
      const twin = await get(target(), `/v2/compat/v2s2/manifests/${pushed().gone}`, DOCKER_MANIFEST);
      assert.equal(twin.status, 200, twin.what);
    });

    it(`${label}: accepts new pushes into the adopted data`, TEST_TIMEOUT, async () => {
      assert.equal(await copy(d('compat/small:1'), d('compat/small:adopted')), fx.small.digest);
      assert.equal(await copy(d('compat/multi:1'), d('compat/new:1'), '--all'), fx.multi.digest);
      const { stdout } = await env.skopeo(['list-tags', '--tls-verify=false', d('compat/small')]);
      assert.deepEqual([...(JSON.parse(stdout) as { Tags: string[] }).Tags].sort(), ['1', 'adopted', 'latest']);
    });
  }

  describe('(a) pushed to the reference registry, served by Pier from the same data dir', () => {
    let reference: RunningReference | undefined;
    let pier: RunningPier | undefined;
    let pushed: Pushed;

    before(async () => {
      const dataDir = await env.path('reference-data');
      await mkdir(dataDir, { recursive: true });
      reference = await startReferenceRegistry({ dataDir });
      pushed = await pushDataSet(reference);
      await reference.close();
      reference = undefined;
      pier = await startPier({ dataDir, deleteEnabled: true });
    }, SETUP_TIMEOUT);

    after(async () => {
      await reference?.close();
      await pier?.close();
    });

    const target = (): Target => {
      assert.ok(pier, 'Pier did not start');
      return pier;
    };

    it('Pier: lists the artifact adopted from the reference data through the referrers API', TEST_TIMEOUT, async () => {
      const response = await get(target(), `/v2/compat/small/referrers/${fx.small.digest}`);
      assert.equal(response.status, 200, response.what);
      const index = JSON.parse(response.body) as ImageIndex;
      assert.equal(index.mediaType, OCI_INDEX, response.what);
      assert.deepEqual(
        index.manifests.map((m) => [m.digest, m.artifactType, m.mediaType]),
        [[fx.artifact.digest, fx.artifact.artifactType, OCI_MANIFEST]],
        response.what,
      );
    });

    servesTheDataSet('Pier', target, () => pushed);
  });

  describe('(b) pushed to Pier, served by the reference registry from the same data dir', () => {
    let reference: RunningReference | undefined;
    let pier: RunningPier | undefined;
    let pushed: Pushed;

    before(async () => {
      const dataDir = await env.path('pier-data');
      await mkdir(dataDir, { recursive: true });
      pier = await startPier({ dataDir, deleteEnabled: true });
      pushed = await pushDataSet(pier);
      await pier.close();
      pier = undefined;
      reference = await startReferenceRegistry({ dataDir });
    }, SETUP_TIMEOUT);

    after(async () => {
      await pier?.close();
      await reference?.close();
    });

    servesTheDataSet('reference', () => {
      assert.ok(reference, 'the reference registry did not start');
      return reference;
    }, () => pushed);
  });
});
