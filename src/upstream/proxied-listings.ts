/**
 * Tag lists of proxied repositories come from the upstream, as with the reference registry's pull-through
 * mode (the tags it has, not only those pulled so far); when the upstream fails, the cached tags are listed.
 * `local-first` repositories and the catalog list what is here.
 */
import type { Listings, Page, PageRequest } from '../registry/tags/listings.ts';
import type { ListingUseCases } from '../registry/registry.ts';
import { RegistryError } from '../registry/errors.ts';
import { UpstreamFailure } from './client/upstream-failure.ts';
import { deniedError, upstreamError, type PullThroughContext } from './pull-through-context.ts';

export class ProxiedListings implements ListingUseCases {
  constructor(
    private readonly inner: Listings,
    private readonly pt: PullThroughContext,
  ) {}

  catalog(page: PageRequest): Promise<Page> {
    return this.inner.catalog(page);
  }

  async tags(repository: string, page: PageRequest): Promise<Page> {
    const route = this.pt.router.select(repository);
    if (!route || route.mode !== 'proxied') return this.inner.tags(repository, page);
    if (route.denied) throw deniedError(route, repository);
    try {
      const listed = await route.client.listTags(route.remoteName, page);
      if (listed === 'not-found') throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name: repository });
      const items = [...listed.tags].sort();
      return listed.more && items.length > 0 ? { items, next: items[items.length - 1]! } : { items };
    } catch (error) {
      if (!UpstreamFailure.is(error)) throw error;
      this.pt.metrics.upstreamErrors.inc({ upstream: route.settings.name, reason: error.kind });
      this.pt.logger.warn({ upstream: route.settings.name, repository, err: error.message }, 'upstream failed: listing the cached tags');
      try {
        return await this.inner.tags(repository, page);
      } catch (local) {
        if (RegistryError.is(local) && local.code === 'NAME_UNKNOWN') throw upstreamError(error);
        throw local;
      }
    }
  }
}
