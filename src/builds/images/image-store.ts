/**
 * What a builder needs from the registry: read images that are in Pier (bases, `COPY --from=image`) and
 * push what it built. The registry implementation (registry-image-store.ts) goes through the registry's own
 * use cases, so quotas, tag immutability and everything that observes pushes apply to built images too.
 */
import type { Readable } from 'node:stream';

export interface StoredImageManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

export interface ImageStore {
  /** A manifest by tag or digest; undefined when the repository or reference is unknown. */
  getManifest(repository: string, reference: string): Promise<StoredImageManifest | undefined>;
  openBlob(repository: string, digest: string): Promise<Readable>;
  readBlob(repository: string, digest: string): Promise<Buffer>;
  /** Links a blob already stored (in any repository, or under `from`) into `repository`; false if absent. */
  mountBlob(repository: string, digest: string, from?: string): Promise<boolean>;
  /** Streams a blob into `repository`, verifying `digest` (computed by the caller while it wrote the bytes). */
  pushBlob(repository: string, digest: string, body: AsyncIterable<Buffer>): Promise<void>;
  putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<string>;
}
