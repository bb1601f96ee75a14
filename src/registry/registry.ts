/** The registry's use cases, behind one facade for http/, cli/ and jobs/. */
import type { RegistryContext } from './context.ts';
import { Blobs } from './blobs/blobs.ts';
import { Uploads } from './uploads/uploads.ts';
import { Manifests } from './manifests/manifests.ts';
import { Listings } from './tags/listings.ts';
import { Referrers } from './referrers/referrers.ts';
import { TagImmutability } from './policies/immutability.ts';
import { Quotas } from './policies/quotas.ts';

/** The public shape of each use case, so a decorator (e.g. the pull-through cache) can stand in for it. */
export type BlobUseCases = Pick<Blobs, keyof Blobs>;
export type ManifestUseCases = Pick<Manifests, keyof Manifests>;
export type UploadUseCases = Pick<Uploads, keyof Uploads>;
export type ListingUseCases = Pick<Listings, keyof Listings>;

/** Wrappers around the plain use cases; main/ passes them, routes never know. */
export interface UseCaseDecorators {
  blobs?(inner: Blobs): BlobUseCases;
  manifests?(inner: Manifests): ManifestUseCases;
  uploads?(inner: Uploads): UploadUseCases;
  listings?(inner: Listings): ListingUseCases;
}

export class Registry {
  readonly blobs: BlobUseCases;
  readonly uploads: UploadUseCases;
  readonly manifests: ManifestUseCases;
  readonly listings: ListingUseCases;
  readonly referrers: Referrers;

  constructor(
    readonly ctx: RegistryContext,
    decorators: UseCaseDecorators = {},
  ) {
    const quotas = new Quotas(ctx.options.quotas);
    const blobs = new Blobs(ctx, quotas);
    const uploads = new Uploads(ctx, blobs);
    const manifests = new Manifests(ctx, new TagImmutability(ctx.options.immutableTags));
    this.blobs = decorators.blobs ? decorators.blobs(blobs) : blobs;
    this.uploads = decorators.uploads ? decorators.uploads(uploads) : uploads;
    this.manifests = decorators.manifests ? decorators.manifests(manifests) : manifests;
    const listings = new Listings(ctx, { defaultTags: 1_000_000, defaultCatalog: 1000, maxPage: 100_000 });
    this.listings = decorators.listings ? decorators.listings(listings) : listings;
    this.referrers = new Referrers(ctx);
  }
}
