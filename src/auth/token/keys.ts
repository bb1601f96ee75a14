/**
 * Keys for registry tokens: Pier's own signing key (PEM: EC P-256 → ES256, RSA → RS256) and the keys it
 * trusts — its own, the certificates of `auth.token.rootcertbundle`, the keys of `auth.token.jwks` — as the
 * reference registry configures them. Every key is known by its libtrust key id (the `kid` the reference
 * registry and Docker's token servers use: base32 of the first 30 bytes of SHA-256 of the DER public key,
 * in groups of four) and by its RFC 7638 JWK thumbprint.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  alg: 'ES256' | 'RS256';
  kid: string;
}

export interface TrustedKey {
  publicKey: KeyObject;
  kid: string;
  thumbprint: string;
  /** Where it came from (for logs). */
  source: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** The libtrust key id of a public key. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{1,4}/g)!.join(':');
}

/** RFC 7638 thumbprint (SHA-256, base64url) of a public key. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

export function loadSigningKey(path: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readFileSync(path));
  } catch (error) {
    throw new Error(`cannot read the token signing key ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const details = privateKey.asymmetricKeyDetails;
  let alg: SigningKey['alg'];
  if (privateKey.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') alg = 'ES256';
  else if (privateKey.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) alg = 'RS256';
  else throw new Error(`the token signing key ${path} must be an EC P-256 key (ES256) or an RSA key of at least 2048 bits (RS256)`);
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, alg, kid: libtrustKeyId(publicKey) };
}

export function trustedKey(publicKey: KeyObject, source: string): TrustedKey {
  return { publicKey, kid: libtrustKeyId(publicKey), thumbprint: jwkThumbprint(publicKey), source };
}

/** The certificates of a PEM bundle. */
export function readCertificates(path: string): X509Certificate[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the certificate bundle ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`no certificate found in ${path}`);
  return blocks.map((pem) => new X509Certificate(pem));
}

/** The keys of a JWKS file (`{"keys": [...]}`); each keeps its own `kid` when it has one. */
export function readJwks(path: string): Array<{ key: KeyObject; kid?: string }> {
  let parsed: { keys?: Array<Record<string, unknown>> };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as { keys?: Array<Record<string, unknown>> };
  } catch (error) {
    throw new Error(`cannot read the JWKS ${path}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`no keys in the JWKS ${path}`);
  return parsed.keys.map((jwk, i) => {
    try {
      const { d: _private, ...pub } = jwk;
      const key = createPublicKey({ key: pub as never, format: 'jwk' });
      return typeof jwk.kid === 'string' ? { key, kid: jwk.kid } : { key };
    } catch (error) {
      throw new Error(`key ${i} of the JWKS ${path} is not a usable public key: ${(error as Error).message}`);
    }
  });
}
