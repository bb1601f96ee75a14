/**
 * The registry protocol as the bench speaks it (like a client such as containers/image would): blob
 * existence check, upload session, monolithic and chunked uploads, manifest put/get, blob get.
 * Also builds the small OCI images the workloads push.
 */
import { createHash, randomFillSync } from 'node:crypto';
import type http from 'node:http';
import { header, request, type Reply } from './http-client.ts';

export const MEDIA = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** All four manifest types: the reference registry hides OCI manifests from a GET by tag without it. */
export const MANIFEST_ACCEPT = [MEDIA.ociManifest, MEDIA.ociIndex, MEDIA.dockerManifest, MEDIA.dockerList].join(', ');

export interface BlobData {
  digest: string;
  size: number;
  data: Buffer;
}

export interface Image {
  config: BlobData;
  layers: BlobData[];
  manifest: Buffer;
  manifestDigest: string;
}

export const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export function blobOf(data: Buffer): BlobData {
  return { digest: sha256(data), size: data.length, data };
}

export function randomBuffer(size: number): Buffer {
  return randomFillSync(Buffer.allocUnsafe(size));
}

/** An OCI image of the given layers; `label` makes the config (and so the manifest) unique. */
export function buildImage(layers: BlobData[], label: string): Image {
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'bench.pier': label } },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: MEDIA.ociLayer, digest: l.digest, size: l.size })),
    }),
  );
  return { config, layers, manifest, manifestDigest: sha256(manifest) };
}

const withDigest = (location: string, digest: string): string => `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;

/** A registry at `base` (http://127.0.0.1:PORT), reached through `agent`. */
export class RegistryClient {
  constructor(
    readonly base: string,
    readonly agent: http.Agent,
  ) {}

  /** True when the blob is already in the repository. */
  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const reply = await request(this.base, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD', agent: this.agent, expect: [200, 404] });
    return reply.status === 200;
  }

  /** POST /blobs/uploads/: the new session's Location. */
  async startUpload(repo: string): Promise<string> {
    const reply = await request(this.base, `/v2/${repo}/blobs/uploads/`, { method: 'POST', agent: this.agent, expect: 202 });
    return location(reply, 'POST upload');
  }

  /** POST, then one PUT carrying the whole body (what containers/image does). */
  async pushMonolithic(repo: string, digest: string, parts: Buffer[]): Promise<void> {
    const session = await this.startUpload(repo);
    const reply = await request(this.base, withDigest(session, digest), {
      method: 'PUT',
      agent: this.agent,
      headers: { 'Content-Type': 'application/octet-stream' },
      body: parts,
      expect: 201,
    });
    checkDigestHeader(reply, digest);
  }

  /** POST, PATCHes of `chunks` (each a list of buffers) with Content-Range, then a PUT without a body. */
  async pushChunked(repo: string, digest: string, chunks: Buffer[][]): Promise<void> {
    let session = await this.startUpload(repo);
    let offset = 0;
    for (const chunk of chunks) {
      const length = chunk.reduce((sum, part) => sum + part.length, 0);
      const reply = await request(this.base, session, {
        method: 'PATCH',
        agent: this.agent,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + length - 1}` },
        body: chunk,
        expect: 202,
      });
      offset += length;
      const range = header(reply, 'range');
      if (range !== `0-${offset - 1}`) throw new Error(`PATCH ${session}: Range is "${range}", expected "0-${offset - 1}"`);
      session = location(reply, 'PATCH');
    }
    const reply = await request(this.base, withDigest(session, digest), { method: 'PUT', agent: this.agent, expect: 201 });
    checkDigestHeader(reply, digest);
  }

  /** A small blob, as a client pushes it: HEAD, and if missing POST + PUT. */
  async pushBlob(repo: string, blob: BlobData): Promise<void> {
    if (await this.hasBlob(repo, blob.digest)) return;
    await this.pushMonolithic(repo, blob.digest, [blob.data]);
  }

  /** Cross-repository mount; false when the registry answered 202 (a session) instead of 201. */
  async mountBlob(repo: string, from: string, digest: string): Promise<boolean> {
    const reply = await request(this.base, `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      method: 'POST',
      agent: this.agent,
      expect: [201, 202],
    });
    if (reply.status === 202) {
      await request(this.base, location(reply, 'POST mount'), { method: 'DELETE', agent: this.agent, expect: [204, 404] });
      return false;
    }
    return true;
  }

  async putManifest(repo: string, reference: string, body: Buffer, mediaType: string = MEDIA.ociManifest): Promise<void> {
    const reply = await request(this.base, `/v2/${repo}/manifests/${reference}`, {
      method: 'PUT',
      agent: this.agent,
      headers: { 'Content-Type': mediaType },
      body,
      expect: 201,
    });
    checkDigestHeader(reply, sha256(body));
  }

  /** Pushes the image's blobs, then its manifest under `tag`. */
  async pushImage(repo: string, tag: string, image: Image): Promise<void> {
    for (const layer of image.layers) await this.pushBlob(repo, layer);
    await this.pushBlob(repo, image.config);
    await this.putManifest(repo, tag, image.manifest);
  }

  async getManifest(repo: string, reference: string): Promise<Reply> {
    return request(this.base, `/v2/${repo}/manifests/${reference}`, { agent: this.agent, headers: { Accept: MANIFEST_ACCEPT }, expect: 200 });
  }

  /** GETs a blob, counting its bytes (or keeping them with `collect`); checks the length. */
  async getBlob(repo: string, digest: string, size: number, collect = false): Promise<Reply> {
    const reply = await request(this.base, `/v2/${repo}/blobs/${digest}`, { agent: this.agent, expect: 200, collect });
    if (reply.bytes !== size) throw new Error(`GET /v2/${repo}/blobs/${digest}: ${reply.bytes} bytes, expected ${size}`);
    return reply;
  }
}

function location(reply: Reply, what: string): string {
  const value = header(reply, 'location');
  if (!value) throw new Error(`${what}: ${reply.status} without a Location header`);
  return value;
}

function checkDigestHeader(reply: Reply, digest: string): void {
  const value = header(reply, 'docker-content-digest');
  if (value !== digest) throw new Error(`${reply.status} reply has Docker-Content-Digest "${value}", expected ${digest}`);
}
