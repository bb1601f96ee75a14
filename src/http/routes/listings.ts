/**
 * `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, with `n`/`last` pagination and a `Link` header. The
 * JSON is written in slices as the socket takes them, so a list of hundreds of thousands of tags is never
 * one large string on top of the list itself.
 */
import type { ServerResponse } from 'node:http';
import type { Exchange } from '../exchange.ts';
import { closedSignal, drainedOrClosed } from '../send-file.ts';
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
  await sendList(ex.res, `{"name":${JSON.stringify(name)},"tags":`, page.items, linkHeader(`/v2/${name}/tags/list`, page, n));
}

export async function catalog(ex: Exchange): Promise<void> {
  const n = pageNumber(ex.query);
  const last = lastParam(ex.query);
  const page = await ex.registry.listings.catalog({ ...(n !== undefined ? { n } : {}), ...(last ? { last } : {}) });
  await sendList(ex.res, '{"repositories":', page.items, linkHeader('/v2/_catalog', page, n));
}

const SLICE = 2000;

/** `prefix` + the items as a JSON array + `}`; small lists in one write, large ones in slices with backpressure. */
async function sendList(res: ServerResponse, prefix: string, items: string[], headers: Record<string, string>): Promise<void> {
  if (items.length <= SLICE) {
    const body = `${prefix}${JSON.stringify(items)}}`;
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/json', ...headers });
  const closed = closedSignal(res);
  res.write(`${prefix}[`);
  for (let start = 0; start < items.length; start += SLICE) {
    const slice = JSON.stringify(items.slice(start, start + SLICE));
    const more = start + SLICE < items.length;
    if (!res.write(`${slice.slice(1, -1)}${more ? ',' : ''}`) && more) {
      await drainedOrClosed(res, closed);
      if (closed.happened) return;
    }
  }
  res.end(']}');
}

