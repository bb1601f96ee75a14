/** The registry's use cases, behind one facade for http/, cli/ and jobs/. */
import type { RegistryContext } from './context.ts';
import { Blobs } from './blobs/blobs.ts';
import { Uploads } from './uploads/uploads.ts';
import { Manifests } from './manifests/manifests.ts';
import { Listings } from './tags/listings.ts';
import { Referrers } from './referrers/referrers.ts';
import { TagImmutability } from './policies/immutability.ts';
import { Quotas } from './policies/quotas.ts';

export class Registry {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;
  readonly listings: Listings;
  readonly referrers: Referrers;

  constructor(readonly ctx: RegistryContext) {
    const quotas = new Quotas(ctx.options.quotas);
    this.blobs = new Blobs(ctx, quotas);
    this.uploads = new Uploads(ctx, this.blobs);
    this.manifests = new Manifests(ctx, new TagImmutability(ctx.options.immutableTags));
    this.listings = new Listings(ctx, { defaultTags: 1_000_000, defaultCatalog: 1000, maxPage: 100_000 });
    this.referrers = new Referrers(ctx);
  }
}
