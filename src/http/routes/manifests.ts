/** `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT and DELETE by tag or digest. */
import { reply, type Exchange } from '../exchange.ts';
import { nameParam, readBody, referenceParam } from '../params.ts';
import { RegistryError } from '../../registry/errors.ts';
import type { ManifestRecord } from '../../registry/ports.ts';

function manifestHeaders(record: ManifestRecord): Record<string, string | number> {
  return {
    'Content-Type': record.mediaType,
    'Content-Length': record.size,
    'Docker-Content-Digest': record.digest,
    ETag: `"${record.digest}"`,
    ...(record.warning ? { Warning: record.warning } : {}),
  };
}

function notModified(ex: Exchange, digest: string): boolean {
  const match = ex.req.headers['if-none-match'];
  if (match === undefined || !match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === `"${digest}"`)) return false;
  ex.res.writeHead(304, { 'Docker-Content-Digest': digest, ETag: `"${digest}"` });
  ex.res.end();
  return true;
}

export async function head(ex: Exchange): Promise<void> {
  const record = await ex.registry.manifests.describe(nameParam(ex), referenceParam(ex));
  if (notModified(ex, record.digest)) return;
  ex.res.writeHead(200, manifestHeaders(record));
  ex.res.end();
}

/**
 * Bodies as Latin-1 strings, by the Buffer the manifest cache hands out for every GET of the same manifest.
 * Node writes the headers and a Latin-1 string body in one socket write; a Buffer body costs a second
 * (writev) and is measurably slower. Latin-1 maps every byte to one character and back, so the bytes sent
 * are exactly the stored bytes.
 */
const latin1Bodies = new WeakMap<Buffer, string>();

function latin1Body(body: Buffer): string {
  let text = latin1Bodies.get(body);
  if (text === undefined) latin1Bodies.set(body, (text = body.toString('latin1')));
  return text;
}

export async function get(ex: Exchange): Promise<void> {
  const manifest = await ex.registry.manifests.get(nameParam(ex), referenceParam(ex));
  if (notModified(ex, manifest.digest)) return;
  ex.res.writeHead(200, { ...manifestHeaders(manifest), 'Content-Length': manifest.body.length });
  ex.res.end(latin1Body(manifest.body), 'latin1');
}

export async function put(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const reference = referenceParam(ex);
  const limit = ex.registry.ctx.options.maxManifestBytes;
  const body = await readBody(ex.req, limit, () => new RegistryError('MANIFEST_TOO_LARGE', `manifest is larger than the limit of ${limit} bytes`, { limit }));
  const result = await ex.registry.manifests.put(name, reference, body, ex.req.headers['content-type']);
  const headers: Record<string, string> = {
    Location: `/v2/${name}/manifests/${result.digest}`,
    'Docker-Content-Digest': result.digest,
  };
  if (result.subject) headers['OCI-Subject'] = result.subject;
  reply(ex.res, 201, headers);
}

export async function remove(ex: Exchange): Promise<void> {
  await ex.registry.manifests.delete(nameParam(ex), referenceParam(ex));
  reply(ex.res, 202, {});
}
