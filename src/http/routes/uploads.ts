/** `/v2/<name>/blobs/uploads/…`: start (with monolithic and mount variants), status, append, complete, cancel. */
import { reply, type Exchange } from '../exchange.ts';
import { chunkBody, nameParam } from '../params.ts';
import { parseDigest } from '../../registry/model/digest.ts';
import { parseRepositoryName } from '../../registry/model/repository-name.ts';
import { RegistryError } from '../../registry/errors.ts';

const uploadUrl = (name: string, id: string): string => `/v2/${name}/blobs/uploads/${id}`;
const blobUrl = (name: string, digest: string): string => `/v2/${name}/blobs/${digest}`;

/** The reference registry's Range form: `0-<last byte>`, and `0-0` for an empty upload. */
export const uploadRange = (size: number): string => `0-${Math.max(0, size - 1)}`;

function sessionHeaders(name: string, id: string, size: number): Record<string, string> {
  return { Location: uploadUrl(name, id), Range: uploadRange(size), 'Docker-Upload-UUID': id };
}

function created(ex: Exchange, name: string, digest: string): void {
  reply(ex.res, 201, { Location: blobUrl(name, digest), 'Docker-Content-Digest': digest });
}

export async function start(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const mount = ex.query.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount);
    const fromParam = ex.query.get('from');
    const from = fromParam === null ? undefined : parseRepositoryName(fromParam);
    if (await ex.registry.blobs.mount(name, digest, from)) return created(ex, name, digest.value);
  }
  const digestText = ex.query.get('digest');
  if (digestText !== null && mount === null) {
    const digest = parseDigest(digestText);
    const id = await ex.registry.uploads.start(name);
    try {
      await ex.registry.uploads.complete(name, id, digest, chunkBody(ex.req));
    } catch (error) {
      await ex.registry.uploads.cancel(name, id).catch(() => undefined);
      throw error;
    }
    return created(ex, name, digest.value);
  }
  const id = await ex.registry.uploads.start(name);
  reply(ex.res, 202, sessionHeaders(name, id, 0));
}

export async function status(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const id = ex.params.uuid ?? '';
  const size = await ex.registry.uploads.size(name, id);
  reply(ex.res, 204, sessionHeaders(name, id, size));
}

export async function append(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const id = ex.params.uuid ?? '';
  const size = await ex.registry.uploads.append(name, id, chunkBody(ex.req));
  reply(ex.res, 202, sessionHeaders(name, id, size));
}

export async function complete(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const id = ex.params.uuid ?? '';
  const digestText = ex.query.get('digest');
  if (digestText === null) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
  const digest = parseDigest(digestText);
  await ex.registry.uploads.complete(name, id, digest, chunkBody(ex.req));
  created(ex, name, digest.value);
}

export async function cancel(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  await ex.registry.uploads.cancel(name, ex.params.uuid ?? '');
  reply(ex.res, 204, {});
}
