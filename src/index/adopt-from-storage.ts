/**
 * Adopt-on-miss: a MetadataIndex decorator for the registry's lookups. When a tag, a manifest or a blob
 * link is not in the index but is in storage — written there by another writer of the same layout, such
 * as a reference registry replica during a rolling migration — it is recorded in the index and served,
 * instead of answering 404. A miss that storage confirms costs one small file read.
 *
 * Only lookups adopt; garbage collection and the index's own bookkeeping use the undecorated index.
 * What another writer changes or deletes while Pier runs is taken in at the next start-up check
 * (reconcile.ts); see docs/operations.md.
 */
import type { ManifestRecord, ManifestWrite, MetadataIndex, PutManifestResult, RegistryStorage } from '../registry/ports.ts';
import { parseDigest, type Digest } from '../registry/model/digest.ts';
import type { Logger } from '../observability/logger.ts';
import { manifestRecord } from './rebuild.ts';

export function adoptingFromStorage(index: MetadataIndex, storage: RegistryStorage, logger?: Logger): MetadataIndex {
  const adopter = new Adopter(index, storage, logger);
  const overrides: Partial<MetadataIndex> = {
    resolveTag: (repository, tag) => adopter.resolveTag(repository, tag),
    getManifest: (repository, digest) => adopter.getManifest(repository, digest),
    repositoryBlobSize: (repository, digest) => adopter.repositoryBlobSize(repository, digest),
    putManifest: (write, options) => adopter.putManifest(write, options),
  };
  return new Proxy(index, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof MetadataIndex];
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

class Adopter {
  constructor(
    private readonly index: MetadataIndex,
    private readonly storage: RegistryStorage,
    private readonly logger?: Logger,
  ) {}

  async resolveTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    const found = await this.index.resolveTag(repository, tag);
    if (found) return found;
    const digest = await this.safely(() => this.storage.readTag(repository, tag));
    if (!digest || !(await this.adoptManifest(repository, digest, tag))) return undefined;
    return this.index.resolveTag(repository, tag);
  }

  async getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    const found = await this.index.getManifest(repository, digest);
    if (found) return found;
    const parsed = safeDigest(digest);
    if (!parsed || !(await this.adoptManifest(repository, parsed))) return undefined;
    return this.index.getManifest(repository, digest);
  }

  async repositoryBlobSize(repository: string, digest: string): Promise<number | undefined> {
    const found = await this.index.repositoryBlobSize(repository, digest);
    if (found !== undefined) return found;
    const parsed = safeDigest(digest);
    if (!parsed || !(await this.safely(() => this.storage.hasLayer(repository, parsed)))) return undefined;
    const size = await this.storage.blobSize(parsed);
    if (size === undefined || (await this.index.addBlob(repository, digest, size)) !== 'linked') return undefined;
    this.logger?.info({ repository, digest }, 'adopted a blob link found in storage');
    return size;
  }

  /** A manifest whose blobs another writer linked (its client pushed the blobs there): adopt them, retry once. */
  async putManifest(write: ManifestWrite, options?: { trustReferences?: boolean }): Promise<PutManifestResult> {
    const result = await this.index.putManifest(write, options);
    if (result.kind !== 'missing') return result;
    let adopted = 0;
    for (const digest of result.digests) {
      if (write.blobs.includes(digest) && (await this.repositoryBlobSize(write.repository, digest)) !== undefined) adopted += 1;
      else if (write.children.includes(digest) && (await this.getManifest(write.repository, digest))) adopted += 1;
    }
    return adopted > 0 ? this.index.putManifest(write, options) : result;
  }

  /** Records a manifest revision found in storage (and the tag on it), with the layer links it uses. */
  private async adoptManifest(repository: string, digest: Digest, tag?: string): Promise<boolean> {
    if (!(await this.safely(() => this.storage.hasRevision(repository, digest)))) return false;
    const body = await this.storage.readBlob(digest);
    if (!body) return false;
    let record;
    try {
      record = manifestRecord(digest.value, body);
    } catch {
      return false; // not a manifest Pier serves (e.g. schema 1)
    }
    for (const blob of record.blobs) {
      const d = safeDigest(blob);
      if (d && (await this.index.repositoryBlobSize(repository, blob)) === undefined && (await this.storage.hasLayer(repository, d))) {
        const size = await this.storage.blobSize(d);
        if (size !== undefined) await this.index.addBlob(repository, blob, size);
      }
    }
    const result = await this.index.putManifest({ repository, ...record, ...(tag !== undefined ? { tag } : {}) }, { trustReferences: true });
    if (result.kind !== 'stored') return false;
    this.logger?.info({ repository, digest: digest.value, tag }, 'adopted a manifest found in storage');
    return true;
  }

  /** A storage lookup that fails (a name the layout cannot hold, an I/O error) is a miss, not an error. */
  private async safely<T>(lookup: () => Promise<T>): Promise<T | undefined> {
    try {
      return await lookup();
    } catch {
      return undefined;
    }
  }
}

function safeDigest(text: string): Digest | undefined {
  try {
    return parseDigest(text);
  } catch {
    return undefined;
  }
}
