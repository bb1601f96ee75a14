/**
 * Writes a small OCI image (one platform, or an index of several: each gets an `arch` file) (layers given as file maps) to an OCI layout folder, for
 * pushing with `skopeo copy oci:DIR:TAG docker://…`. Deterministic: fixed times, sorted entries.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const name of Object.keys(files).sort()) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, files[name]!);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface WrittenImage {
  ref: string;
  /** Layers of the first (or only) platform. */
  layerDigests: string[];
  /** Layers per architecture. */
  platforms: Record<string, string[]>;
}

export async function writeOciImage(dir: string, tag: string, layers: Array<Record<string, string>>, env: string[] = [], architectures: string[] = ['amd64']): Promise<WrittenImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (bytes: Buffer) => {
    const digest = sha(bytes);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return digest;
  };
  const images: Array<{ digest: string; size: number; architecture: string; layerDigests: string[] }> = [];
  for (const architecture of architectures) {
    const descriptors = [];
    const diffIds = [];
    for (const files of layers) {
      const raw = await tarOf(architectures.length > 1 ? { ...files, arch: `${architecture}\n` } : files);
      const gz = gzipSync(raw);
      diffIds.push(sha(raw));
      descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
    }
    const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', config: { Env: env }, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length }, layers: descriptors }));
    images.push({ digest: await put(manifest), size: manifest.length, architecture, layerDigests: descriptors.map((d) => d.digest) });
  }
  let top: { mediaType: string; digest: string; size: number };
  if (architectures.length === 1) {
    top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: images[0]!.digest, size: images[0]!.size };
  } else {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images.map((i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: i.digest, size: i.size, platform: { architecture: i.architecture, os: 'linux' } })) }));
    top = { mediaType: 'application/vnd.oci.image.index.v1+json', digest: await put(index), size: index.length };
  }
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { ref: `oci:${dir}:${tag}`, layerDigests: images[0]!.layerDigests, platforms: Object.fromEntries(images.map((i) => [i.architecture, i.layerDigests])) };
}
