/**
 * Deterministic fixture images for the real-client tests, built locally from scratch — no network, no RUN.
 *
 * - `buildSmallImage`: a single-platform linux/amd64 OCI image with two layers, built with buildah (files with
 *   mtime 0, `commit --timestamp 0 --identity-label=false`), kept in the scratch containers-storage (for
 *   `buildah push` / `podman push`) and exported to an OCI layout (for `skopeo copy oci:…`).
 * - `buildMultiPlatformIndex`: linux/amd64 + linux/arm64 images joined with `buildah manifest`, exported as an
 *   OCI image index to an OCI layout.
 * - `writeArtifactLayout`: an OCI artifact manifest with `artifactType`, the empty config
 *   (`application/vnd.oci.empty.v1+json`, `{}`) and a `subject`, written by hand as an OCI layout.
 *
 * Same inputs give the same digests on every run and machine, so tests can compare digests end to end.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClientEnv } from './client-env.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  platform?: Platform;
  annotations?: Record<string, string>;
  data?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** One tagged manifest (or index) in an OCI layout folder. */
export interface LayoutImage {
  /** The OCI layout folder. */
  layoutDir: string;
  tag: string;
  /** `oci:DIR:TAG`, for skopeo. */
  ref: string;
  /** The descriptor in index.json (mediaType, digest, size). */
  descriptor: Descriptor;
  digest: string;
  /** The exact manifest (or index) bytes. */
  manifestBytes: Buffer;
}

export interface SmallImage extends LayoutImage {
  /** The name in the scratch containers-storage, e.g. `localhost/pier-test/small:1`. */
  localName: string;
  manifest: ImageManifest;
  configBytes: Buffer;
  /** Uncompressed layer digests, from the config's rootfs.diff_ids. */
  diffIds: string[];
}

export interface PlatformImage {
  platform: Platform;
  digest: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  diffIds: string[];
}

export interface MultiPlatformImage extends LayoutImage {
  /** The manifest list's name in the scratch containers-storage. */
  listName: string;
  index: ImageIndex;
  platforms: PlatformImage[];
}

export interface ArtifactImage extends LayoutImage {
  artifactType: string;
  subject: Descriptor;
  manifest: ImageManifest;
  payload: Buffer;
}

export function sha256Digest(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function layoutBlobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (algorithm === undefined || hex === undefined) throw new Error(`not a digest: ${digest}`);
  return join(layoutDir, 'blobs', algorithm, hex);
}

export async function readLayoutBlob(layoutDir: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(layoutBlobPath(layoutDir, digest));
  const actual = sha256Digest(bytes);
  if (actual !== digest) throw new Error(`blob ${digest} in ${layoutDir} has digest ${actual}`);
  return bytes;
}

/** The descriptor tagged `tag` in an OCI layout (or its only descriptor when tag is undefined). */
export async function readLayoutDescriptor(layoutDir: string, tag?: string): Promise<Descriptor> {
  const index = JSON.parse(await readFile(join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
  const matches =
    tag === undefined
      ? index.manifests
      : index.manifests.filter((d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag);
  const [descriptor] = matches;
  if (descriptor === undefined || matches.length !== 1) {
    throw new Error(`${layoutDir}/index.json: expected one manifest tagged ${tag ?? '(any)'}, found ${matches.length}`);
  }
  return descriptor;
}

export async function readLayoutImage(layoutDir: string, tag: string): Promise<LayoutImage> {
  const descriptor = await readLayoutDescriptor(layoutDir, tag);
  const manifestBytes = await readLayoutBlob(layoutDir, descriptor.digest);
  return { layoutDir, tag, ref: `oci:${layoutDir}:${tag}`, descriptor, digest: descriptor.digest, manifestBytes };
}

/** Deterministic pseudo-random bytes (a SHA-256 counter stream), for a layer that is not tiny. */
export function deterministicBytes(length: number, seed: string): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0, counter = 0; offset < length; counter++) {
    offset += createHash('sha256').update(`${seed}:${counter}`).digest().copy(out, offset);
  }
  return out;
}

/** Writes a build-context file with mtime and atime 0. */
async function contextFile(path: string, contents: string | Buffer): Promise<string> {
  await writeFile(path, contents);
  await utimes(path, 0, 0);
  return path;
}

async function diffIdsOf(layoutDir: string, manifest: ImageManifest): Promise<string[]> {
  const config = JSON.parse((await readLayoutBlob(layoutDir, manifest.config.digest)).toString('utf8')) as {
    rootfs: { diff_ids: string[] };
  };
  return config.rootfs.diff_ids;
}

/** `buildah from scratch` → copy files (one layer) → optional config → commit; returns nothing, image is local. */
async function commitLayer(
  env: ClientEnv,
  from: string,
  files: { source: string; target: string }[],
  config: string[],
  name: string,
): Promise<void> {
  const container = (await env.buildah(['from', '--signature-policy', env.policyPath, from])).stdout.trim();
  try {
    for (const file of files) await env.buildah(['copy', '--quiet', container, file.source, file.target]);
    if (config.length > 0) await env.buildah(['config', ...config, container]);
    await env.buildah(['commit', '--quiet', '--timestamp', '0', '--identity-label=false', container, name]);
  } finally {
    await env.buildah(['rm', container]);
  }
}

/**
 * Builds the two-layer linux/amd64 image `localName` in the env's containers-storage and exports it to an OCI
 * layout under the env (`oci:DIR:small`).
 */
export async function buildSmallImage(env: ClientEnv, localName = 'localhost/pier-test/small:1'): Promise<SmallImage> {
  const hello = await contextFile(
    await env.path('context', 'small', 'hello.txt'),
    'hello from the first layer of a Pier fixture\n',
  );
  const blob = await contextFile(
    await env.path('context', 'small', 'data.bin'),
    deterministicBytes(256 * 1024, 'pier-small'),
  );
  const baseName = `${localName.replace(/:[^:/]*$/, '')}-base:1`;

  await commitLayer(env, 'scratch', [{ source: hello, target: '/hello.txt' }], [], baseName);
  await commitLayer(
    env,
    baseName,
    [{ source: blob, target: '/data.bin' }],
    [
      '--os', 'linux',
      '--arch', 'amd64',
      '--cmd', '["/hello.txt"]',
      '--env', 'PIER_FIXTURE=small',
      '--label', 'org.example.fixture=small',
    ],
    localName,
  );

  const layoutDir = await env.path('layouts', 'small');
  await env.skopeo(['copy', '--quiet', `containers-storage:${localName}`, `oci:${layoutDir}:small`]);
  const image = await readLayoutImage(layoutDir, 'small');
  const manifest = JSON.parse(image.manifestBytes.toString('utf8')) as ImageManifest;
  if (manifest.layers.length !== 2) throw new Error(`small fixture should have 2 layers: ${image.manifestBytes}`);
  return {
    ...image,
    localName,
    manifest,
    configBytes: await readLayoutBlob(layoutDir, manifest.config.digest),
    diffIds: await diffIdsOf(layoutDir, manifest),
  };
}

export const FIXTURE_PLATFORMS: readonly Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

/**
 * Builds one single-layer image per platform, joins them with `buildah manifest create/add` as `listName`, and
 * exports the list with `buildah manifest push --all --format oci` to an OCI layout (`oci:DIR:multi`).
 */
export async function buildMultiPlatformIndex(
  env: ClientEnv,
  listName = 'localhost/pier-test/multi:1',
): Promise<MultiPlatformImage> {
  const repo = listName.replace(/:[^:/]*$/, '');
  await env.buildah(['manifest', 'create', listName]);
  for (const platform of FIXTURE_PLATFORMS) {
    const file = await contextFile(
      await env.path('context', 'multi', `${platform.architecture}.txt`),
      `built for ${platform.os}/${platform.architecture}\n`,
    );
    const name = `${repo}-${platform.architecture}:1`;
    await commitLayer(
      env,
      'scratch',
      [{ source: file, target: '/platform.txt' }],
      ['--os', platform.os, '--arch', platform.architecture, '--label', `org.example.platform=${platform.architecture}`],
      name,
    );
    await env.buildah(['manifest', 'add', listName, `containers-storage:${name}`]);
  }

  const layoutDir = await env.path('layouts', 'multi');
  await env.buildah([
    'manifest', 'push', '--quiet', '--all', '--format', 'oci', '--signature-policy', env.policyPath,
    listName, `oci:${layoutDir}:multi`,
  ]);
  const image = await readLayoutImage(layoutDir, 'multi');
  const index = JSON.parse(image.manifestBytes.toString('utf8')) as ImageIndex;
  if (image.descriptor.mediaType !== OCI_INDEX) {
    throw new Error(`multi fixture should be an OCI index, is ${image.descriptor.mediaType}`);
  }
  const platforms: PlatformImage[] = [];
  for (const platform of FIXTURE_PLATFORMS) {
    const entry = index.manifests.find((d) => d.platform?.architecture === platform.architecture);
    if (entry === undefined) throw new Error(`multi fixture lacks ${platform.architecture}: ${image.manifestBytes}`);
    const manifestBytes = await readLayoutBlob(layoutDir, entry.digest);
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as ImageManifest;
    platforms.push({
      platform,
      digest: entry.digest,
      manifestBytes,
      manifest,
      diffIds: await diffIdsOf(layoutDir, manifest),
    });
  }
  return { ...image, listName, index, platforms };
}

export const FIXTURE_ARTIFACT_TYPE = 'application/vnd.example.pier.sbom.v1+json';

async function putBlob(layoutDir: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256Digest(bytes);
  await writeFile(layoutBlobPath(layoutDir, digest), bytes);
  return { digest, size: bytes.length };
}

/**
 * Writes, by hand, an OCI layout at `layoutDir` holding one artifact manifest tagged `tag`: `artifactType`,
 * the empty config descriptor, one layer with a small JSON payload, and `subject` pointing at `subject`.
 */
export async function writeArtifactLayout(
  layoutDir: string,
  subject: Descriptor,
  opts: { tag?: string; artifactType?: string; payload?: string } = {},
): Promise<ArtifactImage> {
  const tag = opts.tag ?? 'artifact';
  const artifactType = opts.artifactType ?? FIXTURE_ARTIFACT_TYPE;
  const payload = Buffer.from(opts.payload ?? `{"fixture":"pier","subject":"${subject.digest}"}\n`);
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(layoutDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');

  const empty = await putBlob(layoutDir, Buffer.from('{}'));
  const layer = await putBlob(layoutDir, payload);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: { mediaType: OCI_EMPTY, digest: empty.digest, size: empty.size, data: 'e30=' },
    layers: [{ mediaType: artifactType, digest: layer.digest, size: layer.size }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { 'org.opencontainers.image.created': '1970-01-01T00:00:00Z' },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const stored = await putBlob(layoutDir, manifestBytes);
  const descriptor: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest: stored.digest,
    size: stored.size,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  };
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [descriptor] }));
  return {
    layoutDir,
    tag,
    ref: `oci:${layoutDir}:${tag}`,
    descriptor,
    digest: stored.digest,
    manifestBytes,
    artifactType,
    subject: manifest.subject as Descriptor,
    manifest,
    payload,
  };
}

export interface Fixtures {
  small: SmallImage;
  multi: MultiPlatformImage;
  /** An artifact whose subject is `small`. */
  artifact: ArtifactImage;
}

/** Builds all fixtures in `env` (a few seconds); call once per test file, in `before`. */
export async function buildFixtures(env: ClientEnv): Promise<Fixtures> {
  const small = await buildSmallImage(env);
  const multi = await buildMultiPlatformIndex(env);
  const artifact = await writeArtifactLayout(await env.path('layouts', 'artifact'), small.descriptor, { tag: 'sbom' });
  return { small, multi, artifact };
}
