/**
 * Small helpers for the HTTP integration tests (test/http): digests, pushing blobs and images with plain
 * `fetch`, checking the spec's JSON error body, and raw requests whose path must reach the server exactly
 * as written (fetch normalises `..` segments, node:http does not).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
export const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
export const API_VERSION = 'registry/2.0';

/** The OCI empty descriptor's content, `{}`. */
export const EMPTY_JSON = Buffer.from('{}');

/** A byte array as a fetch body (the DOM typings want an ArrayBuffer-backed view; Buffers work at runtime). */
export const asBody = (data: Uint8Array): BodyInit => data as Uint8Array<ArrayBuffer>;

export function digestOf(data: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { os: string; architecture: string };
}

export const descriptorOf = (mediaType: string, data: Uint8Array, extra: Partial<Descriptor> = {}): Descriptor => ({
  mediaType,
  digest: digestOf(data),
  size: data.length,
  ...extra,
});

export interface WireError {
  code: string;
  message: string;
  detail: unknown;
}

/**
 * Asserts a spec error response: the status, the API version header, a JSON body
 * `{"errors":[{"code","message","detail"}]}` and (when given) that one of the errors has `code`.
 */
export async function expectError(res: Response, status: number, code?: string | string[]): Promise<WireError[]> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
  assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors?: unknown };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `errors array expected in ${text}`);
  for (const e of body.errors as WireError[]) {
    assert.equal(typeof e.code, 'string');
    assert.equal(typeof e.message, 'string');
    assert.ok('detail' in e, 'every error has a detail member');
  }
  if (code !== undefined) {
    const codes = (body.errors as WireError[]).map((e) => e.code);
    const wanted = Array.isArray(code) ? code : [code];
    assert.ok(
      codes.some((c) => wanted.includes(c)),
      `expected error code ${wanted.join(' or ')}, got ${codes.join(', ')}`,
    );
  }
  return body.errors as WireError[];
}

/** Resolves a (possibly relative) Location header against the registry's base URL. */
export function locationOf(base: string, res: Response): string {
  const location = res.headers.get('location');
  assert.ok(location, `a Location header is expected (status ${res.status})`);
  return new URL(location, base).toString();
}

/** Monolithic upload (`POST …/blobs/uploads/?digest=`); asserts 201 and returns the digest. */
export async function pushBlob(base: string, name: string, data: Uint8Array, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<string> {
  const digest = digestOf(data, algorithm);
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: asBody(data),
  });
  const text = await res.text();
  assert.equal(res.status, 201, `monolithic push of ${digest} to ${name}: ${res.status} ${text}`);
  return digest;
}

/** Starts an upload session; asserts 202 and returns the absolute session URL. */
export async function startUpload(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  await res.arrayBuffer();
  assert.equal(res.status, 202);
  return locationOf(base, res);
}

/**
 * Upload session + PUT with the digest, the one blob push the reference registry accepts as well as Pier
 * (2.8 has no monolithic POST); nothing when the repository already has the blob. Asserts 201.
 */
export async function pushBlobBySession(base: string, name: string, data: Uint8Array): Promise<void> {
  const digest = digestOf(data);
  const head = await fetch(`${base}/v2/${name}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  const put = await fetch(withDigest(await startUpload(base, name), digest), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: asBody(data) });
  assert.equal(put.status, 201, `blob push to ${base}: ${await put.text()}`);
}

/** An image's blobs by pushBlobBySession, then its manifest under `tag`; asserts 201 (either registry). */
export async function pushTaggedBySessions(base: string, name: string, tag: string, image: BuiltImage): Promise<void> {
  for (const blob of image.blobs) await pushBlobBySession(base, name, blob.data);
  const res = await fetch(`${base}/v2/${name}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': image.mediaType }, body: asBody(image.manifest) });
  assert.equal(res.status, 201, `manifest push to ${base} ${name}:${tag}: ${await res.text()}`);
}

/** Adds `digest=` to an upload URL that may already carry a query. */
export function withDigest(uploadUrl: string, digest: string): string {
  const url = new URL(uploadUrl);
  url.searchParams.set('digest', digest);
  return url.toString();
}

export async function putManifest(base: string, name: string, reference: string, body: Uint8Array, contentType?: string): Promise<Response> {
  return fetch(`${base}/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: contentType === undefined ? {} : { 'Content-Type': contentType },
    body: asBody(body),
  });
}

export interface ImageOptions {
  mediaType?: string;
  /** Layer contents (random by default: one layer of 64 bytes). */
  layers?: Buffer[];
  /** Config bytes (a small unique OCI config by default). */
  config?: Buffer;
  configMediaType?: string;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  /** Whitespace between JSON tokens, to check that the registry keeps the exact bytes. */
  indent?: number;
}

export interface BuiltImage {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  config: Buffer;
  layers: Buffer[];
  /** Config then layers. */
  blobs: Array<{ digest: string; data: Buffer }>;
  descriptor: Descriptor;
}

/** Builds (without pushing) a config, layers and an image manifest that references them. */
export function buildImage(opts: ImageOptions = {}): BuiltImage {
  const docker = opts.mediaType === DOCKER_MANIFEST;
  const config =
    opts.config ??
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const layers = opts.layers ?? [randomBytes(64)];
  const mediaType = opts.mediaType ?? OCI_MANIFEST;
  const json: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: descriptorOf(opts.configMediaType ?? (docker ? DOCKER_CONFIG : OCI_CONFIG), config),
    layers: layers.map((l) => descriptorOf(docker ? DOCKER_LAYER : OCI_LAYER, l)),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(json, null, opts.indent));
  const digest = digestOf(manifest);
  return {
    manifest,
    digest,
    mediaType,
    config,
    layers,
    blobs: [config, ...layers].map((data) => ({ digest: digestOf(data), data })),
    descriptor: { mediaType, digest, size: manifest.length },
  };
}

/** Pushes the blobs of a built image, then its manifest by `reference` (tag or digest; default its digest). */
export async function pushBuilt(base: string, name: string, image: BuiltImage, reference: string = image.digest): Promise<Response> {
  for (const blob of image.blobs) await pushBlob(base, name, blob.data);
  return putManifest(base, name, reference, image.manifest, image.mediaType);
}

/** Builds and pushes an image; asserts 201. */
export async function pushImage(base: string, name: string, reference?: string, opts: ImageOptions = {}): Promise<BuiltImage> {
  const image = buildImage(opts);
  const res = await pushBuilt(base, name, image, reference);
  const text = await res.text();
  assert.equal(res.status, 201, `manifest push to ${name}:${reference ?? image.digest}: ${res.status} ${text}`);
  return image;
}

/** An OCI artifact: empty config, one layer, artifactType, optional subject and annotations. */
export function buildArtifact(artifactType: string, subject?: Descriptor, annotations?: Record<string, string>): BuiltImage {
  return buildImage({
    artifactType,
    config: EMPTY_JSON,
    configMediaType: OCI_EMPTY,
    layers: [Buffer.from(`artifact ${randomBytes(8).toString('hex')}`)],
    ...(subject ? { subject } : {}),
    ...(annotations ? { annotations } : {}),
  });
}

/** An image index (OCI or Docker list) over the given manifests. */
export function buildIndex(children: Descriptor[], opts: { mediaType?: string; artifactType?: string; subject?: Descriptor; annotations?: Record<string, string> } = {}): {
  body: Buffer;
  digest: string;
  mediaType: string;
} {
  const mediaType = opts.mediaType ?? OCI_INDEX;
  const json = {
    schemaVersion: 2,
    mediaType,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    manifests: children.map((c, i) => ({ ...c, platform: { os: 'linux', architecture: i % 2 ? 'arm64' : 'amd64' } })),
    ...(opts.subject ? { subject: opts.subject } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const body = Buffer.from(JSON.stringify(json));
  return { body, digest: digestOf(body), mediaType };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** An HTTP request whose path is sent byte for byte (no URL normalisation), on a fresh connection. */
export function rawRequest(
  host: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string | number>; body?: Buffer } = {},
): Promise<RawResponse> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port: Number(port), method, path, headers: opts.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Reads the whole body of a response as a Buffer. */
export async function bytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

/**
 * Closes a test server once the responses the client has just read are also finished on the server side,
 * so a keep-alive connection is idle when close() runs (a Pier whose drain does not sweep connections that
 * become idle later would otherwise wait for the client to drop it; test/http/shutdown.test.ts checks that).
 */
export async function stopPier(pier: { close(): Promise<void> }): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await pier.close();
}
