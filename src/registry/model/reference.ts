/** A manifest reference in a URL: either a tag or a digest. */
import { parseDigest, looksLikeDigest, type Digest } from './digest.ts';
import { isTag } from './tag.ts';
import { RegistryError } from '../errors.ts';

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

export function parseReference(text: string): Reference {
  if (looksLikeDigest(text)) return { kind: 'digest', digest: parseDigest(text) };
  if (isTag(text)) return { kind: 'tag', tag: text };
  throw new RegistryError('MANIFEST_INVALID', 'invalid manifest reference: neither a tag nor a digest', { reference: text.slice(0, 129) });
}
