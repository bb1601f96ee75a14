/** `GET /v2/<name>/referrers/<digest>[?artifactType=…]`: an OCI image index of the manifests referring to it. */
import { reply, type Exchange } from '../exchange.ts';
import { digestParam, nameParam } from '../params.ts';
import { MediaType, isWellFormedMediaType } from '../../registry/model/media-types.ts';
import { RegistryError } from '../../registry/errors.ts';

export async function list(ex: Exchange): Promise<void> {
  const name = nameParam(ex);
  const digest = digestParam(ex);
  const artifactType = ex.query.get('artifactType') ?? undefined;
  if (artifactType !== undefined && !isWellFormedMediaType(artifactType)) {
    throw new RegistryError('MANIFEST_INVALID', 'artifactType is not a valid media type', { artifactType: artifactType.slice(0, 256) });
  }
  const index = await ex.registry.referrers.list(name, digest, artifactType);
  const headers: Record<string, string> = { 'Content-Type': MediaType.ociIndex };
  if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
  reply(ex.res, 200, headers, JSON.stringify(index));
}
