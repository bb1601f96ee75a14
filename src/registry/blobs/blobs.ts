/** Reading, deleting and mounting blobs that are linked into a repository. */
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors.ts';
import type { Digest } from '../model/digest.ts';
import type { RegistryContext } from '../context.ts';
import type { LinkResult } from '../ports.ts';
import type { Quotas } from '../policies/quotas.ts';

export class Blobs {
  constructor(
    private readonly ctx: RegistryContext,
    private readonly quotas: Quotas,
  ) {}

  /** Size of a blob in the repository; BLOB_UNKNOWN when it is not linked there. */
  async stat(repository: string, digest: Digest): Promise<number> {
    const size = await this.ctx.index.repositoryBlobSize(repository, digest.value);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: digest.value });
    return size;
  }

  /**
   * Where to redirect a download of a linked blob (BLOB_UNKNOWN when it is not linked): a presigned URL
   * of the object store, or undefined to serve the bytes from here.
   */
  async directUrl(repository: string, digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    await this.stat(repository, digest);
    return this.ctx.storage.blobUrl?.(digest, method);
  }

  /** Opens the blob, or a range of it; BLOB_UNKNOWN when it is not linked or its bytes are gone. */
  async open(repository: string, digest: Digest, range?: { start: number; end: number }): Promise<Readable> {
    await this.stat(repository, digest);
    const stream = await this.ctx.storage.openBlob(digest, range);
    if (!stream) throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: digest.value });
    return stream;
  }

  /** Unlinks the blob from the repository (its bytes stay until garbage collection). */
  async delete(repository: string, digest: Digest): Promise<void> {
    if (!this.ctx.options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry (storage.delete.enabled)');
    if (!(await this.ctx.index.removeBlob(repository, digest.value))) {
      throw new RegistryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest: digest.value });
    }
    await this.ctx.storage.unlinkLayer(repository, digest);
  }

  /**
   * Cross-repository mount: links a blob that already exists into `repository`. With `from`, the blob
   * must be linked in that repository; without it, it must exist anywhere in storage.
   * Returns false when nothing could be mounted (the caller then starts a normal upload).
   */
  async mount(repository: string, digest: Digest, from: string | undefined): Promise<boolean> {
    let size: number | undefined;
    if (from !== undefined) {
      size = await this.ctx.index.repositoryBlobSize(from, digest.value);
      if (size !== undefined && (await this.ctx.storage.blobSize(digest)) === undefined) size = undefined;
    } else {
      size = await this.ctx.storage.blobSize(digest);
    }
    if (size === undefined) return false;
    await this.checkQuota(repository, digest, size);
    // A blob that garbage collection is deleting right now cannot be mounted: the client uploads it instead.
    return (await this.link(repository, digest, size)) === 'linked';
  }

  /** Throws DENIED when linking the blob would take the repository or its namespace over a quota. */
  async checkQuota(repository: string, digest: Digest, size: number): Promise<void> {
    if (this.quotas.enabled) await this.quotas.checkLink(this.ctx.index, repository, digest.value, size);
  }

  /** Makes a stored blob part of a repository: the link file first, then the index. */
  async link(repository: string, digest: Digest, size: number): Promise<LinkResult> {
    await this.ctx.storage.linkLayer(repository, digest);
    return this.ctx.index.addBlob(repository, digest.value, size);
  }
}
