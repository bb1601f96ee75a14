/** Parsing of path parameters, query parameters and headers into domain values (or domain errors). */
import type { IncomingMessage } from 'node:http';
import type { Exchange } from './exchange.ts';
import { parseRepositoryName } from '../registry/model/repository-name.ts';
import { parseDigest, type Digest } from '../registry/model/digest.ts';
import { parseReference, type Reference } from '../registry/model/reference.ts';
import { parseContentRange, type ByteRange } from '../registry/model/byte-range.ts';
import { RegistryError } from '../registry/errors.ts';
import type { ChunkBody } from '../registry/uploads/uploads.ts';

export const nameParam = (ex: Exchange): string => parseRepositoryName(ex.params.name ?? '');
export const digestParam = (ex: Exchange): Digest => parseDigest(ex.params.digest ?? '');
export const referenceParam = (ex: Exchange): Reference => parseReference(ex.params.reference ?? '');

export function contentLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  if (!/^\d{1,15}$/.test(header)) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return Number(header);
}

export function chunkBody(req: IncomingMessage): ChunkBody {
  const body: ChunkBody = { stream: req };
  const length = contentLength(req);
  if (length !== undefined) body.length = length;
  const range = req.headers['content-range'];
  if (range !== undefined) body.range = parseContentRange(range) as ByteRange;
  return body;
}

/** Reads a whole (small) body, refusing more than `limit` bytes before buffering them. */
export async function readBody(req: IncomingMessage, limit: number, tooLarge: () => RegistryError): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/** `n` of a paginated listing: a non-negative integer. */
export function pageNumber(query: URLSearchParams): number | undefined {
  const n = query.get('n');
  if (n === null || n === '') return undefined;
  if (!/^\d{1,9}$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: n.slice(0, 20) });
  return Number(n);
}

export function lastParam(query: URLSearchParams): string | undefined {
  const last = query.get('last');
  if (last === null || last === '') return undefined;
  if (last.length > 512) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'last is too long');
  return last;
}
