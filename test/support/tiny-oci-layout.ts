/**
 * A tiny OCI image layout written by hand (one gzip layer, a config, a manifest tagged in index.json), for
 * tests that need a real client to push something quickly without building it with buildah. `seed` makes
 * different images; the same seed gives the same digests.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface HandMadeImage {
  dir: string;
  tag: string;
  manifestDigest: string;
  manifestSize: number;
  blobs: Array<{ digest: string; size: number }>;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function writeOciLayout(dir: string, seed: string, tag = 'v1'): Promise<HandMadeImage> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha(b);
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), b);
    return { digest, size: b.length };
  };
  const raw = Buffer.from(`layer of ${seed}\n`.repeat(32));
  const layer = await put(gzipSync(raw, { level: 9 }));
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(raw)] } })));
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
  const manifest = await put(manifestBytes);
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
  return { dir, tag, manifestDigest: manifest.digest, manifestSize: manifest.size, blobs: [config, layer] };
}
