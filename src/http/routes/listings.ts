/** `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, with `n`/`last` pagination and a `Link` header. */
import { replyJson, type Exchange } from '../exchange.ts';
import { lastParam, nameParam, pageNumber } from '../params.ts';
import type { Page } from '../../registry/tags/listings.ts';

function linkHeader(path: string, page: Page, n: number | undefined): Record<string, string> {
  if (page.next === undefined) return {};
  const query = new URLSearchParams();
  query.set('last', page.next);
  query.set('n', String(n ?? page.items.length));
  return { Link: `<${path}?${query.toString()}>; rel="next"` };
}

export async function tags(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const n = pageNumber(ex.query);
  const last = lastParam(ex.query);
  const page = await ex.registry.listings.tags(name, { ...(n !== undefined ? { n } : {}), ...(last ? { last } : {}) });
  replyJson(ex.res, 200, { name, tags: page.items }, linkHeader(`/v2/${name}/tags/list`, page, n));
}

export async function catalog(ex: Exchange): Promise<void> {
  const n = pageNumber(ex.query);
  const last = lastParam(ex.query);
  const page = await ex.registry.listings.catalog({ ...(n !== undefined ? { n } : {}), ...(last ? { last } : {}) });
  replyJson(ex.res, 200, { repositories: page.items }, linkHeader('/v2/_catalog', page, n));
}
