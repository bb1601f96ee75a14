/**
 * Authentication and authorization, from the `auth` and `access` configuration sections, as plain values
 * (the HTTP side is http/request-gate.ts and http/token-endpoint.ts):
 *
 * - `auth.htpasswd` alone: Basic credentials checked against the file; challenge `Basic realm="…"`.
 * - `auth.token` with `rootcertbundle`/`jwks` (no signing key): bearer tokens from an external issuer, as the
 *   reference registry accepts them; what a token's `access` claim grants is what the caller may do.
 * - `auth.token` with `signingkey` (Pier-only) plus `auth.htpasswd`: Pier runs the token service itself at
 *   the realm's path; users log in there with their htpasswd password. Basic credentials are also accepted on
 *   /v2 directly (the same policy applies).
 *
 * API tokens (api-tokens/) are accepted wherever a password is (Basic credentials with any user name, the
 * token endpoint); such a caller may do, per repository, only what both the token's scope and the policy
 * (for the token's owner, now) allow. A registry token issued for an API-token login carries its id and
 * stops working when the API token is revoked or expires.
 *
 * Failed logins go through the login limiter; passwords and tokens are never logged.
 */
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { PierConfig } from '../config/schema.ts';
import { AccessPolicy } from './policy.ts';
import { Htpasswd, type HtpasswdOptions } from './htpasswd.ts';
import { LoginLimiter } from './login-limiter.ts';
import { covers, formatScope, intersect, type ResourceAccess } from './scope.ts';
import { loadSigningKey, readCertificates, readJwks, trustedKey, type TrustedKey } from './token/keys.ts';
import { DEFAULT_ALGORITHMS, TokenError, TokenIssuer, TokenVerifier } from './token/tokens.ts';
import { apiTokenId, intersectActions, looksLikeApiToken, scopeActions, type ApiTokenInfo, type ApiTokens } from './api-tokens/api-tokens.ts';

export interface AccessConfig {
  auth: PierConfig['auth'];
  access: PierConfig['access'];
  /** Test hook: htpasswd reload and memory timing. */
  htpasswdOptions?: HtpasswdOptions;
}

/** Who a request comes from, once its credentials (if any) are checked. */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'user'; user: string }
  /** Basic credentials whose password is an API token of `user`. */
  | { kind: 'apiToken'; user: string; token: ApiTokenInfo }
  /** A bearer token; `apiToken` when Pier issued it for an API-token login (the token, still valid). */
  | { kind: 'token'; user: string | undefined; access: ResourceAccess[]; ownKey: boolean; apiToken?: ApiTokenInfo };

export type Authentication =
  | { ok: true; caller: Caller }
  | { ok: false; reason: 'invalid'; message: string; bearer: boolean }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number };

export type PasswordCheck = { ok: true } | { ok: false; reason: 'invalid' } | { ok: false; reason: 'limited'; retryAfterSeconds: number };

/** A password or an API token checked: `user` is who the caller acts for (an API token's owner). */
export type CredentialCheck =
  | { ok: true; user: string; apiToken?: ApiTokenInfo }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'limited'; retryAfterSeconds: number };

export interface TokenSettings {
  realm: string;
  service: string;
  issuer: string;
  autoredirect: boolean;
  autoredirectpath: string | undefined;
  verifier: TokenVerifier;
  /** Present when Pier issues tokens itself. */
  tokenIssuer?: TokenIssuer;
  /** The token endpoint's path on this server (built-in service only). */
  endpointPath?: string;
}

export class AccessControl {
  readonly policy: AccessPolicy;
  readonly htpasswd: Htpasswd | undefined;
  readonly limiter: LoginLimiter;
  readonly token: TokenSettings | undefined;
  readonly basicRealm: string;

  private constructor(
    config: AccessConfig,
    private readonly logger: Logger,
    htpasswd: Htpasswd | undefined,
    token: TokenSettings | undefined,
    /** API tokens, when Pier keeps them (always in `pier serve`). */
    readonly apiTokens: ApiTokens | undefined,
    private readonly metrics?: Pick<Metrics, 'loginsThrottled'>,
  ) {
    this.policy = new AccessPolicy(config.access.policy);
    this.htpasswd = htpasswd;
    const limits = config.access.loginlimit;
    this.limiter = new LoginLimiter({ maxFailures: limits.maxfailures, addressMaxFailures: limits.addressmaxfailures, windowMs: limits.window });
    this.token = token;
    this.basicRealm = config.auth.htpasswd?.realm ?? 'Registry Realm';
  }

  static async create(config: AccessConfig, logger: Logger, apiTokens?: ApiTokens, metrics?: Pick<Metrics, 'loginsThrottled'>): Promise<AccessControl> {
    const { htpasswd: htpasswdConfig, token: tokenConfig } = config.auth;
    let htpasswd: Htpasswd | undefined;
    if (htpasswdConfig) {
      try {
        htpasswd = Htpasswd.open(htpasswdConfig.path, logger, config.htpasswdOptions);
      } catch (error) {
        throw new Error(`cannot read the htpasswd file ${htpasswdConfig.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (create it with \`pier user add\` or \`htpasswd -B\`)`);
      }
      if (htpasswd.userCount === 0) logger.warn({ path: htpasswdConfig.path }, 'htpasswd file holds no usable user: nobody can log in');
    }
    let token: TokenSettings | undefined;
    if (tokenConfig) {
      const trusted: TrustedKey[] = [];
      let issuer: TokenIssuer | undefined;
      if (tokenConfig.signingkey) {
        const key = loadSigningKey(tokenConfig.signingkey);
        trusted.push(trustedKey(key.publicKey, tokenConfig.signingkey));
        issuer = new TokenIssuer(key, tokenConfig.issuer, tokenConfig.service, tokenConfig.expiration, tokenConfig.refreshexpiration);
        logger.info({ kid: key.kid, alg: key.alg }, 'token service: signing tokens');
      }
      const roots = tokenConfig.rootcertbundle ? readCertificates(tokenConfig.rootcertbundle) : [];
      for (const cert of roots) trusted.push(trustedKey(cert.publicKey, tokenConfig.rootcertbundle!));
      if (tokenConfig.jwks) {
        for (const { key, kid } of readJwks(tokenConfig.jwks)) {
          const t = trustedKey(key, tokenConfig.jwks);
          trusted.push(kid ? { ...t, kid } : t, t);
        }
      }
      const verifier = new TokenVerifier(trusted, roots, tokenConfig.issuer, tokenConfig.service, tokenConfig.signingalgorithms ?? DEFAULT_ALGORITHMS, issuer?.kid);
      token = {
        realm: tokenConfig.realm,
        service: tokenConfig.service,
        issuer: tokenConfig.issuer,
        autoredirect: tokenConfig.autoredirect,
        autoredirectpath: tokenConfig.autoredirectpath,
        verifier,
        ...(issuer ? { tokenIssuer: issuer, endpointPath: new URL(tokenConfig.realm).pathname } : {}),
      };
    }
    return new AccessControl(config, logger, htpasswd, token, apiTokens, metrics);
  }

  /** The answer for an attempt the login limits throttle (logged and counted), or undefined. */
  private throttled(user: string, address: string | undefined): { ok: false; reason: 'limited'; retryAfterSeconds: number } | undefined {
    const decision = this.limiter.check(user, address);
    if (decision.allowed) return undefined;
    this.logger.warn({ user, address, limit: decision.limit, retryAfterSeconds: decision.retryAfterSeconds }, 'login throttled: too many failed attempts');
    this.metrics?.loginsThrottled.inc({ limit: decision.limit });
    return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
  }

  /** Checks a user's password, within the login limits. */
  async checkPassword(user: string, password: string, address: string | undefined): Promise<PasswordCheck> {
    if (!this.htpasswd) return { ok: false, reason: 'invalid' };
    const limited = this.throttled(user, address);
    if (limited) return limited;
    if (await this.htpasswd.verify(user, password)) {
      this.limiter.recordSuccess(user, address);
      return { ok: true };
    }
    this.limiter.recordFailure(user, address);
    this.logger.warn({ user, address }, 'login failed');
    return { ok: false, reason: 'invalid' };
  }

  /**
   * Checks Basic credentials: an API token (by its shape; any user name) or an htpasswd password, within the
   * login limits. A token counts only while its owner is still in the htpasswd file.
   */
  async checkCredentials(user: string, password: string, address: string | undefined): Promise<CredentialCheck> {
    if (!this.htpasswd) return { ok: false, reason: 'invalid' };
    if (!this.apiTokens || !looksLikeApiToken(password)) {
      const check = await this.checkPassword(user, password, address);
      return check.ok ? { ok: true, user } : check;
    }
    const limited = this.throttled(user, address);
    if (limited) return limited;
    const check = await this.apiTokens.verify(password);
    if (check.ok && this.htpasswd.has(check.token.user)) {
      this.limiter.recordSuccess(user, address);
      return { ok: true, user: check.token.user, apiToken: check.token };
    }
    this.limiter.recordFailure(user, address);
    this.logger.warn({ user, address, tokenId: check.ok ? check.token.id : (check.id ?? apiTokenId(password)), reason: check.ok ? 'the owner is no longer a user' : check.reason }, 'API token refused');
    return { ok: false, reason: 'invalid' };
  }

  /** Checks the credentials of an Authorization header (undefined: anonymous). */
  async authenticate(header: string | undefined, address: string | undefined): Promise<Authentication> {
    if (header === undefined || header.trim() === '') return { ok: true, caller: { kind: 'anonymous' } };
    const space = header.indexOf(' ');
    const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
    const value = space === -1 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic' && this.htpasswd) {
      const basic = parseBasic(value);
      if (!basic) return { ok: false, reason: 'invalid', message: 'malformed Basic credentials', bearer: false };
      const check = await this.checkCredentials(basic.user, basic.password, address);
      if (check.ok) return { ok: true, caller: check.apiToken ? { kind: 'apiToken', user: check.user, token: check.apiToken } : { kind: 'user', user: check.user } };
      if (check.reason === 'limited') return { ok: false, reason: 'limited', retryAfterSeconds: check.retryAfterSeconds };
      return { ok: false, reason: 'invalid', message: 'invalid username or password', bearer: false };
    }
    if (scheme === 'bearer' && this.token) {
      try {
        const verified = await this.token.verifier.verify(value);
        let apiToken: ApiTokenInfo | undefined;
        if (verified.apiToken !== undefined) {
          const check = this.apiTokens ? await this.apiTokens.stillValid(verified.apiToken, verified.subject) : { ok: false as const, reason: 'API tokens unavailable' };
          if (!check.ok || (this.htpasswd !== undefined && !this.htpasswd.has(check.token.user))) {
            throw new TokenError(`the API token behind this token is no longer valid (${check.ok ? 'the owner is no longer a user' : check.reason})`);
          }
          apiToken = check.token;
        }
        return {
          ok: true,
          caller: { kind: 'token', user: verified.subject, access: verified.access, ownKey: verified.ownKey, ...(apiToken ? { apiToken } : {}) },
        };
      } catch (error) {
        const message = error instanceof TokenError ? error.message : 'invalid token';
        this.logger.info({ address, reason: message }, 'bearer token refused');
        return { ok: false, reason: 'invalid', message, bearer: true };
      }
    }
    return { ok: false, reason: 'invalid', message: `unsupported authorization scheme ${scheme.slice(0, 20)}`, bearer: this.token !== undefined };
  }

  /** The actions a caller may take on a resource. */
  granted(caller: Caller, type: string, name: string): Set<string> {
    if (caller.kind === 'token') {
      const actions = new Set<string>();
      for (const entry of caller.access) if (entry.type === type && entry.name === name) for (const a of entry.actions) actions.add(a);
      return actions;
    }
    if (caller.kind === 'apiToken') return this.tokenAllowed(caller.user, caller.token, type, name);
    return this.policy.allowed(caller.kind === 'user' ? caller.user : undefined, type, name);
  }

  /** What an API token of `user` may do on a resource now: its scope, within the policy. */
  tokenAllowed(user: string, token: ApiTokenInfo, type: string, name: string): Set<string> {
    return intersectActions(this.policy.allowed(user, type, name), scopeActions(token.scope, type, name));
  }

  allows(caller: Caller, type: string, name: string, action: string): boolean {
    return covers(this.granted(caller, type, name), action);
  }

  /**
   * Which repositories a caller sees in the catalog, or undefined when it sees every one (an admin, no
   * policy, or a token from an external issuer that granted the catalog). A caller that logged in with an
   * API token (directly or through a registry token) sees only what its token lets it pull.
   */
  catalogFilter(caller: Caller): ((repository: string) => boolean) | undefined {
    if (caller.kind === 'token' && !caller.ownKey) return undefined;
    const user = caller.kind === 'anonymous' ? undefined : caller.user;
    const fromToken = (repository: string): boolean => caller.kind === 'token' && this.allows(caller, 'repository', repository, 'pull');
    const apiToken = caller.kind === 'apiToken' ? caller.token : caller.kind === 'token' ? caller.apiToken : undefined;
    if (apiToken && user !== undefined) return (repository) => covers(this.tokenAllowed(user, apiToken, 'repository', repository), 'pull') || fromToken(repository);
    if (!this.policy.filtersCatalog(user)) return undefined;
    return (repository) => this.policy.canPull(user, repository) || fromToken(repository);
  }

  /**
   * What the token service grants a user (undefined: anonymous) out of what was asked — within the scope of
   * the API token they logged in with, if any.
   */
  grant(user: string | undefined, requested: ResourceAccess[], apiToken?: ApiTokenInfo): ResourceAccess[] {
    const out: ResourceAccess[] = [];
    for (const r of requested) {
      const allowed = apiToken && user !== undefined ? this.tokenAllowed(user, apiToken, r.type, r.name) : this.policy.allowed(user, r.type, r.name);
      const actions = intersect(r.actions, allowed);
      if (actions.length > 0) out.push({ type: r.type, name: r.name, actions });
    }
    return out;
  }

  /** The WWW-Authenticate challenge for a request needing `required`. */
  challenge(required: ResourceAccess[], options: { error?: 'invalid_token' | 'insufficient_scope'; host?: string; secure?: boolean } = {}): string {
    if (!this.token) return `Basic realm=${quote(this.basicRealm)}`;
    let realm = this.token.realm;
    if (this.token.autoredirect && options.host) realm = `${options.secure ? 'https' : 'http'}://${options.host}${this.token.autoredirectpath ?? '/auth/token'}`;
    const parts = [`realm=${quote(realm)}`, `service=${quote(this.token.service)}`];
    if (required.length > 0) parts.push(`scope=${quote(required.map(formatScope).join(' '))}`);
    if (options.error) parts.push(`error=${quote(options.error)}`);
    return `Bearer ${parts.join(',')}`;
  }
}

export function createAccessControl(config: AccessConfig, logger: Logger, apiTokens?: ApiTokens, metrics?: Pick<Metrics, 'loginsThrottled'>): Promise<AccessControl> {
  return AccessControl.create(config, logger, apiTokens, metrics);
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** `Basic base64(user:password)`; the password may contain `:`. */
export function parseBasic(value: string): { user: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
