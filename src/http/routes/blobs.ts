/** `/v2/<name>/blobs/<digest>`: HEAD, GET (with Range) and DELETE. */
import { pipeline } from 'node:stream/promises';
import { reply, type Exchange } from '../exchange.ts';
import { digestParam, nameParam } from '../params.ts';
import { resolveRangeHeader } from '../../registry/model/byte-range.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { Digest } from '../../registry/model/digest.ts';

function blobHeaders(digest: string): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
}

/** Redirects to the object store when storage signs direct URLs (the reference's storage.redirect). */
async function redirected(ex: Exchange, name: string, digest: Digest, method: 'GET' | 'HEAD'): Promise<boolean> {
  const location = await ex.registry.blobs.directUrl(name, digest, method);
  if (location === undefined) return false;
  reply(ex.res, 307, { Location: location, 'Docker-Content-Digest': digest.value });
  return true;
}

export async function head(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  if (await redirected(ex, name, digest, 'HEAD')) return;
  const size = await ex.registry.blobs.stat(name, digest);
  ex.res.writeHead(200, { ...blobHeaders(digest.value), 'Content-Length': size });
  ex.res.end();
}

export async function get(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  if (await redirected(ex, name, digest, 'GET')) return;
  const size = await ex.registry.blobs.stat(name, digest);
  const range = resolveRangeHeader(ex.req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { size }, { contentRange: `bytes */${size}` });
  }
  const headers = blobHeaders(digest.value);
  if (range.kind === 'range') {
    const { start, end } = range.range;
    const stream = await ex.registry.blobs.open(name, digest, range.range);
    ex.res.writeHead(206, { ...headers, 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${size}` });
    await pipeline(stream, ex.res);
    return;
  }
  if (size === 0) {
    reply(ex.res, 200, headers);
    return;
  }
  const stream = await ex.registry.blobs.open(name, digest);
  ex.res.writeHead(200, { ...headers, 'Content-Length': size });
  await pipeline(stream, ex.res);
}

export async function remove(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  await ex.registry.blobs.delete(name, digest);
  reply(ex.res, 202, { 'Docker-Content-Digest': digest.value });
}
