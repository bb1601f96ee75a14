/**
 * Content digests: `<algorithm>:<hex>`. Only sha256 and sha512 are accepted (the OCI spec's registered
 * algorithms); the hex part is lowercase and of the algorithm's exact length, so a digest can be used as a
 * storage path component without further escaping.
 */
import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from '../errors.ts';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// The spec's general grammar: algorithm-component ([+._-] separated) ":" encoded.
const GENERAL = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical string form, `algorithm:hex`. */
  readonly value: string;
}

export function isDigestAlgorithm(value: string): value is DigestAlgorithm {
  return value === 'sha256' || value === 'sha512';
}

/** Parses a digest; throws DIGEST_INVALID, also for a well-formed digest of an unsupported algorithm. */
export function parseDigest(text: string): Digest {
  if (text.length > 256 || !GENERAL.test(text)) {
    throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: text.slice(0, 256) });
  }
  const colon = text.indexOf(':');
  const algorithm = text.slice(0, colon);
  const hex = text.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) {
    throw new RegistryError('DIGEST_INVALID', `digest algorithm ${algorithm} is not supported (use sha256 or sha512)`, {
      digest: text,
    });
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[0-9a-f]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest: expected ${HEX_LENGTH[algorithm]} lowercase hex characters`, {
      digest: text,
    });
  }
  return { algorithm, hex, value: text };
}

export function looksLikeDigest(text: string): boolean {
  return text.includes(':');
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(data).digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestFromHash(algorithm: DigestAlgorithm, hash: Hash): Digest {
  const hex = hash.digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}
