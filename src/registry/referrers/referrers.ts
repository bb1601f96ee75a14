/**
 * The referrers API: manifests in a repository whose `subject` is a given digest, as an OCI image index.
 * An unknown repository or subject gives an empty index, never a 404: clients (oras, notation, cosign)
 * read a 404 here as "this registry has no referrers API" and fall back to the tag scheme.
 */
import type { Digest } from '../model/digest.ts';
import { MediaType } from '../model/media-types.ts';
import type { RegistryContext } from '../context.ts';
import type { ReferrerRecord } from '../ports.ts';

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: typeof MediaType.ociIndex;
  manifests: ReferrerRecord[];
}

export class Referrers {
  constructor(private readonly ctx: RegistryContext) {}

  async list(repository: string, subject: Digest, artifactType?: string): Promise<ReferrersIndex> {
    const manifests = await this.ctx.index.listReferrers(repository, subject.value, artifactType);
    return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  }
}
