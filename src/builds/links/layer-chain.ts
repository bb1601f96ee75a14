/**
 * Layer chains: an image derives from a base when its layer list begins with all of the base's layers.
 * A chain id names a whole layer list (sha256 over the digests in order), so the bases of an image are
 * found by computing the chain id of each of its proper prefixes and looking those up.
 */
import { createHash } from 'node:crypto';

export function chainIds(layers: readonly string[]): string[] {
  const ids: string[] = [];
  const hash = createHash('sha256');
  for (const digest of layers) {
    hash.update(`${digest}\n`);
    ids.push(hash.copy().digest('hex'));
  }
  return ids;
}
