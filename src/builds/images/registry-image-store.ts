/** ImageStore over the registry's use cases (uploads, blobs, manifests): a build pushes like any client. */
import type { Readable } from 'node:stream';
import type { Registry } from '../../registry/registry.ts';
import { parseDigest } from '../../registry/model/digest.ts';
import { parseReference } from '../../registry/model/reference.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { ImageStore, StoredImageManifest } from './image-store.ts';

export class RegistryImageStore implements ImageStore {
  constructor(private readonly registry: Registry) {}

  async getManifest(repository: string, reference: string): Promise<StoredImageManifest | undefined> {
    try {
      const found = await this.registry.manifests.get(repository, parseReference(reference));
      return { digest: found.digest, mediaType: found.mediaType, body: found.body };
    } catch (error) {
      if (RegistryError.is(error) && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'NAME_UNKNOWN')) return undefined;
      throw error;
    }
  }

  openBlob(repository: string, digest: string): Promise<Readable> {
    return this.registry.blobs.open(repository, parseDigest(digest));
  }

  async readBlob(repository: string, digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.openBlob(repository, digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async mountBlob(repository: string, digest: string, from?: string): Promise<boolean> {
    const parsed = parseDigest(digest);
    if ((await this.registry.ctx.index.repositoryBlobSize(repository, digest)) !== undefined) return true;
    return this.registry.blobs.mount(repository, parsed, from);
  }

  async pushBlob(repository: string, digest: string, body: AsyncIterable<Buffer>): Promise<void> {
    const id = await this.registry.uploads.start(repository);
    try {
      await this.registry.uploads.complete(repository, id, parseDigest(digest), { stream: body });
    } catch (error) {
      await this.registry.uploads.cancel(repository, id).catch(() => undefined);
      throw error;
    }
  }

  async putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    return (await this.registry.manifests.put(repository, parseReference(reference), body, mediaType)).digest;
  }
}
