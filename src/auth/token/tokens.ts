/**
 * Registry bearer tokens (JWT), per the Docker registry token specification.
 *
 * `TokenIssuer` signs access tokens — `iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti` and the `access` claim
 * (`[{type, name, actions}]`) — and refresh tokens (`offline_token`, OAuth2 `refresh_token` grant), which carry
 * no access, a `pier_refresh` stamp of the user's password hash (a new password voids them) and a longer
 * lifetime. An access token never validates as a refresh token, nor the other way round. An access token
 * issued for a login with an API token carries its id as `pier_api_token` (read only from Pier's own tokens)
 * and expires no later than the API token.
 *
 * `TokenVerifier` accepts a token only if: its algorithm is an allowed asymmetric one (never `none`, never
 * HMAC), its key is trusted — found by `kid` (libtrust id or JWK thumbprint), by an embedded `jwk` equal to a
 * trusted key, or by an `x5c` chain ending at a certificate of the root bundle — the signature holds, `iss`
 * and `aud` are the configured ones, it has an `exp`, and `exp`/`nbf` hold with a 60 s leeway (the reference
 * registry's).
 */
import { randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors, type JWTPayload, type JWTHeaderParameters } from 'jose';
import type { ResourceAccess } from '../scope.ts';
import { jwkThumbprint, libtrustKeyId, type SigningKey, type TrustedKey } from './keys.ts';
import { createPublicKey } from 'node:crypto';

export const LEEWAY_SECONDS = 60;
export const DEFAULT_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: string;
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    readonly issuer: string,
    readonly service: string,
    private readonly expirationMs: number,
    private readonly refreshExpirationMs: number,
  ) {}

  get kid(): string {
    return this.key.kid;
  }

  /**
   * An access token. `apiToken`: the id of the API token the caller logged in with, carried as the
   * `pier_api_token` claim (so revoking the API token ends this token too); `notAfter` caps the expiry (an
   * API token's own).
   */
  async issue(subject: string | undefined, access: ResourceAccess[], now = new Date(), options: { apiToken?: string; notAfter?: Date } = {}): Promise<IssuedToken> {
    const iat = Math.floor(now.getTime() / 1000);
    let expiresIn = Math.max(1, Math.round(this.expirationMs / 1000));
    if (options.notAfter) expiresIn = Math.max(1, Math.min(expiresIn, Math.floor(options.notAfter.getTime() / 1000) - iat));
    const claims: Record<string, unknown> = { access: access.map((a) => ({ type: a.type, name: a.name, actions: a.actions })) };
    if (options.apiToken !== undefined) claims.pier_api_token = options.apiToken;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: this.key.alg, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(subject ?? '')
      .setAudience(this.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + expiresIn)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.key.privateKey);
    return { token, expiresIn, issuedAt: now.toISOString() };
  }

  async issueRefresh(user: string, passwordStamp: string, now = new Date()): Promise<string> {
    const iat = Math.floor(now.getTime() / 1000);
    return new SignJWT({ pier_refresh: passwordStamp })
      .setProtectedHeader({ alg: this.key.alg, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(user)
      .setAudience(this.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + Math.max(1, Math.round(this.refreshExpirationMs / 1000)))
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.key.privateKey);
  }
}

export interface VerifiedToken {
  /** `sub`; undefined for an anonymous token (empty subject). */
  subject: string | undefined;
  access: ResourceAccess[];
  /** Signed by Pier's own signing key. */
  ownKey: boolean;
  /** Issued by Pier for a login with this API token (its id); only read from Pier's own tokens. */
  apiToken?: string;
}

export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

export class TokenVerifier {
  private readonly byId = new Map<string, TrustedKey>();

  constructor(
    private readonly trusted: TrustedKey[],
    private readonly roots: X509Certificate[],
    readonly issuer: string,
    readonly service: string,
    private readonly algorithms: string[] = DEFAULT_ALGORITHMS,
    private readonly ownKid?: string,
  ) {
    for (const key of trusted) {
      this.byId.set(key.kid, key);
      this.byId.set(key.thumbprint, key);
    }
  }

  async verify(token: string): Promise<VerifiedToken> {
    const { payload, kid } = await this.check(token);
    if (payload.pier_refresh !== undefined) throw new TokenError('a refresh token is not an access token');
    const ownKey = kid !== undefined && kid === this.ownKid;
    return {
      subject: typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined,
      access: parseAccessClaim(payload.access),
      ownKey,
      ...(ownKey && typeof payload.pier_api_token === 'string' ? { apiToken: payload.pier_api_token } : {}),
    };
  }

  /** A refresh token Pier issued: its user and password stamp. */
  async verifyRefresh(token: string): Promise<{ user: string; stamp: string }> {
    const { payload, kid } = await this.check(token);
    if (kid === undefined || kid !== this.ownKid || typeof payload.pier_refresh !== 'string' || typeof payload.sub !== 'string' || payload.sub === '') {
      throw new TokenError('not a refresh token issued by this registry');
    }
    return { user: payload.sub, stamp: payload.pier_refresh };
  }

  private async check(token: string): Promise<{ payload: JWTPayload; kid: string | undefined }> {
    let usedKid: string | undefined;
    try {
      const { payload } = await jwtVerify(
        token,
        (header: JWTHeaderParameters) => {
          const key = this.keyFor(header);
          usedKid = key.kid;
          return key.publicKey;
        },
        {
          issuer: this.issuer,
          audience: this.service,
          algorithms: this.algorithms,
          clockTolerance: LEEWAY_SECONDS,
          requiredClaims: ['exp'],
        },
      );
      return { payload, kid: usedKid };
    } catch (error) {
      if (error instanceof TokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('token expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError(`token claim ${error.claim} is not valid (${error.reason})`);
      if (error instanceof joseErrors.JOSEAlgNotAllowed) throw new TokenError('token signing algorithm not allowed');
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw new TokenError('token signature does not verify');
      throw new TokenError('malformed or unverifiable token');
    }
  }

  private keyFor(header: JWTHeaderParameters): TrustedKey {
    if (Array.isArray(header.x5c) && header.x5c.length > 0) return this.keyFromChain(header.x5c);
    if (header.jwk !== undefined) {
      let key: KeyObject;
      try {
        key = createPublicKey({ key: header.jwk as never, format: 'jwk' });
      } catch {
        throw new TokenError('token header jwk is not a public key');
      }
      const trusted = this.byId.get(jwkThumbprint(key)) ?? this.byId.get(libtrustKeyId(key));
      if (!trusted) throw new TokenError('token signed by an untrusted key');
      return trusted;
    }
    if (typeof header.kid === 'string') {
      const trusted = this.byId.get(header.kid);
      if (!trusted) throw new TokenError('token signed by an untrusted key');
      return trusted;
    }
    throw new TokenError('token names no key (kid, jwk or x5c)');
  }

  /** The leaf of an x5c chain, if the chain leads to a root of the bundle and every certificate is valid now. */
  private keyFromChain(x5c: string[]): TrustedKey {
    let chain: X509Certificate[];
    try {
      chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
    } catch {
      throw new TokenError('token header x5c holds an unreadable certificate');
    }
    const now = Date.now();
    for (const cert of chain) {
      if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) throw new TokenError('token certificate chain is not valid now');
    }
    for (let i = 0; i < chain.length - 1; i++) {
      if (!chain[i]!.checkIssued(chain[i + 1]!) || !chain[i]!.verify(chain[i + 1]!.publicKey)) throw new TokenError('token certificate chain is broken');
    }
    const top = chain[chain.length - 1]!;
    const anchored = this.roots.some((root) => root.raw.equals(top.raw) || (top.checkIssued(root) && top.verify(root.publicKey)));
    if (!anchored) throw new TokenError('token certificate chain does not lead to a trusted root');
    const leaf = chain[0]!.publicKey;
    return { publicKey: leaf, kid: libtrustKeyId(leaf), thumbprint: jwkThumbprint(leaf), source: 'x5c' };
  }
}

function parseAccessClaim(claim: unknown): ResourceAccess[] {
  if (!Array.isArray(claim)) return [];
  const out: ResourceAccess[] = [];
  for (const entry of claim) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || typeof name !== 'string' || !Array.isArray(actions)) continue;
    out.push({ type, name, actions: actions.filter((a): a is string => typeof a === 'string') });
  }
  return out;
}
