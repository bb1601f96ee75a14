/** `/v2/<name>/blobs/<digest>`: HEAD, GET (with Range) and DELETE. */
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { reply, type Exchange } from '../exchange.ts';
import { digestParam, nameParam } from '../params.ts';
import { resolveRangeHeader } from '../../registry/model/byte-range.ts';
import { RegistryError } from '../../registry/errors.ts';
import { localFileOf } from '../../storage/contract.ts';
import { sendFileRange } from '../send-file.ts';

function blobHeaders(digest: string): Record<string, string> {
  return {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    ETag: `"${digest}"`,
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'max-age=31536000',
  };
}

export async function head(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  const size = await ex.registry.blobs.stat(name, digest);
  ex.res.writeHead(200, { ...blobHeaders(digest.value), 'Content-Length': size });
  ex.res.end();
}

export async function get(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  const size = await ex.registry.blobs.stat(name, digest);
  const range = resolveRangeHeader(ex.req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { size }, { contentRange: `bytes */${size}` });
  }
  const headers = blobHeaders(digest.value);
  if (size === 0) {
    reply(ex.res, 200, headers);
    return;
  }
  // Opened only now: the repository has the blob (authorization already passed) and its bytes sit at
  // their content address, which they reach only after their digest was verified.
  const stream = await ex.registry.blobs.open(name, digest, range.kind === 'range' ? range.range : undefined);
  const file = localFileOf(stream);
  if (file && ex.accelRedirect !== undefined) {
    // The front proxy (nginx) sends the file itself, with sendfile, and answers a Range header on its own.
    stream.destroy();
    ex.res.writeHead(200, { ...headers, 'Content-Length': 0, 'X-Accel-Redirect': `${ex.accelRedirect}${file.key}` });
    ex.res.end();
    return;
  }
  const { start, end } = range.kind === 'range' ? range.range : { start: 0, end: size - 1 };
  ex.res.writeHead(range.kind === 'range' ? 206 : 200, {
    ...headers,
    'Content-Length': end - start + 1,
    ...(range.kind === 'range' ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
  });
  await sendBody(ex, stream, start, end - start + 1);
}

async function sendBody(ex: Exchange, stream: Readable, start: number, length: number): Promise<void> {
  const file = localFileOf(stream);
  if (!file) {
    await pipeline(stream, ex.res);
    return;
  }
  try {
    await sendFileRange(ex.res, file.handle, start, length);
  } finally {
    stream.destroy(); // closes the file
  }
}

export async function remove(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  await ex.registry.blobs.delete(name, digest);
  reply(ex.res, 202, { 'Docker-Content-Digest': digest.value });
}
