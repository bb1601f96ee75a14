/**
 * Pushes test content over the registry API with credentials: images with config labels and manifest
 * annotations, a two-platform index, and a referrer (an SBOM-like artifact) — what the browsing resources show.
 */
import { createHash, randomBytes } from 'node:crypto';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Pushed {
  digest: string;
  size: number;
  configDigest: string;
  configSize: number;
  layers: Array<{ digest: string; size: number }>;
}

async function pushBlob(base: string, repo: string, blob: Buffer, auth: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
    method: 'POST',
    body: new Uint8Array(blob),
    headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' },
  });
  if (res.status !== 201) throw new Error(`blob push to ${repo}: ${res.status} ${await res.text()}`);
}

async function putManifest(base: string, repo: string, reference: string, body: Buffer, mediaType: string, auth: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, { method: 'PUT', body: new Uint8Array(body), headers: { Authorization: auth, 'Content-Type': mediaType } });
  if (res.status !== 201) throw new Error(`manifest push to ${repo}:${reference}: ${res.status} ${await res.text()}`);
}

export interface ImageSpec {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  architecture?: string;
  layerBytes?: number[];
  /** Tag to push by (default: by digest only). */
  tag?: string;
  subject?: { mediaType: string; digest: string; size: number };
  artifactType?: string;
}

export async function pushTestImage(base: string, repo: string, auth: string, spec: ImageSpec = {}): Promise<Pushed> {
  const layers = (spec.layerBytes ?? [1000]).map((n) => randomBytes(n));
  const config = Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? 'amd64',
      os: 'linux',
      created: '2026-01-02T03:04:05Z',
      config: { Env: ['PATH=/usr/bin', 'MODE=test'], Cmd: ['/bin/app', '--serve'], Entrypoint: ['/init'], Labels: spec.labels ?? {}, ExposedPorts: { '8080/tcp': {} }, User: 'app', WorkingDir: '/srv' },
      rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
      history: [{ created: '2026-01-02T03:04:05Z', created_by: 'COPY app /bin/app' }],
    }),
  );
  for (const blob of [config, ...layers]) await pushBlob(base, repo, blob, auth);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(spec.artifactType ? { artifactType: spec.artifactType } : {}),
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length })),
      ...(spec.subject ? { subject: spec.subject } : {}),
      ...(spec.annotations ? { annotations: spec.annotations } : {}),
    }),
  );
  await putManifest(base, repo, spec.tag ?? sha256(manifest), manifest, OCI_MANIFEST, auth);
  return { digest: sha256(manifest), size: manifest.length, configDigest: sha256(config), configSize: config.length, layers: layers.map((l) => ({ digest: sha256(l), size: l.length })) };
}

/** An index of an amd64 and an arm64 image, tagged `tag`. */
export async function pushTestIndex(base: string, repo: string, auth: string, tag: string): Promise<{ digest: string; children: Pushed[] }> {
  const children = [await pushTestImage(base, repo, auth, { architecture: 'amd64' }), await pushTestImage(base, repo, auth, { architecture: 'arm64' })];
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c, i) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.size, platform: { os: 'linux', architecture: i === 0 ? 'amd64' : 'arm64' } })),
    }),
  );
  await putManifest(base, repo, tag, index, OCI_INDEX, auth);
  return { digest: sha256(index), children };
}

export const basicAuth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
