/**
 * Writes a small single-platform OCI image (layers given as file maps) to an OCI layout folder, for
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
  layerDigests: string[];
}

export async function writeOciImage(dir: string, tag: string, layers: Array<Record<string, string>>, env: string[] = []): Promise<WrittenImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (bytes: Buffer) => {
    const digest = sha(bytes);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return digest;
  };
  const descriptors = [];
  const diffIds = [];
  for (const files of layers) {
    const raw = await tarOf(files);
    const gz = gzipSync(raw);
    diffIds.push(sha(raw));
    descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await put(gz), size: gz.length });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: env }, rootfs: { type: 'layers', diff_ids: diffIds }, history: [] }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await put(config), size: config.length }, layers: descriptors }));
  const digest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }));
  return { ref: `oci:${dir}:${tag}`, layerDigests: descriptors.map((d) => d.digest) };
}
