/**
 * The built-in token service (Docker registry token authentication), at the path of `auth.token.realm`:
 *
 * - `GET ?service=…&scope=…[&scope=…]&account=…&offline_token=true&client_id=…`, with Basic credentials or
 *   none (anonymous): `{token, access_token, expires_in, issued_at[, refresh_token]}`.
 * - `POST` form (OAuth2): `grant_type=password` (`username`, `password`, `access_type=offline` for a refresh
 *   token) or `grant_type=refresh_token` (`refresh_token`), with `service`, `scope` (space separated) and
 *   `client_id`: `{access_token, token, scope, expires_in, issued_at[, refresh_token]}`.
 *
 * A token grants, for each scope asked, only the actions the policy allows that caller (the intersection); a
 * scope with none left is omitted. The password may be an API token (any user name): the token is then
 * issued to its owner, within the API token's scope as well, carries the API token's id (revoking it ends
 * the registry token too), never outlives it, and comes without a refresh token. Failed logins count toward the login limit (429 with Retry-After).
 * Responses are never cached; credentials and tokens are never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.ts';
import { parseBasic, type AccessControl } from '../auth/access-control.ts';
import type { ApiTokenInfo } from '../auth/api-tokens/api-tokens.ts';
import { formatScope, mergeAccess, parseScopes, type ResourceAccess } from '../auth/scope.ts';
import { TokenError } from '../auth/token/tokens.ts';
import { readBody } from './params.ts';
import { RegistryError } from '../registry/errors.ts';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const MAX_FORM_BYTES = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { ...NO_STORE, ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

function oauthError(res: ServerResponse, status: number, error: string, description: string, headers: Record<string, string> = {}): void {
  send(res, status, { error, error_description: description }, headers);
}

export async function serveTokenEndpoint(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, access: AccessControl, logger: Logger): Promise<void> {
  const token = access.token!;
  const issuer = token.tokenIssuer!;
  const address = req.socket.remoteAddress;
  const method = req.method ?? 'GET';

  if (method === 'GET') {
    const service = query.get('service');
    if (service !== null && service !== token.service) return oauthError(res, 400, 'invalid_request', `unknown service ${JSON.stringify(service.slice(0, 100))}`);
    let user: string | undefined;
    let basicUser: string | undefined;
    let apiToken: ApiTokenInfo | undefined;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const [scheme, value = ''] = header.split(/ (.*)/s, 2);
      const basic = scheme?.toLowerCase() === 'basic' ? parseBasic(value.trim()) : undefined;
      const challenge = { 'WWW-Authenticate': `Basic realm="${access.basicRealm.replace(/["\\]/g, '\\$&')}"` };
      if (!basic) return oauthError(res, 401, 'invalid_client', 'Basic credentials expected', challenge);
      const check = await access.checkCredentials(basic.user, basic.password, address);
      if (!check.ok && check.reason === 'limited') {
        return oauthError(res, 429, 'too_many_requests', 'too many failed login attempts', { 'Retry-After': String(check.retryAfterSeconds) });
      }
      if (!check.ok) return oauthError(res, 401, 'invalid_client', 'invalid username or password', challenge);
      user = check.user;
      basicUser = basic.user;
      apiToken = check.apiToken;
    }
    const account = query.get('account');
    if (account !== null && account !== '' && basicUser !== undefined && account !== basicUser) {
      return oauthError(res, 400, 'invalid_request', 'account does not match the credentials');
    }
    const requested = mergeAccess(query.getAll('scope').flatMap(parseScopes));
    const granted = access.grant(user, requested, apiToken);
    const issued = await issuer.issue(user, granted, new Date(), apiTokenClaims(apiToken));
    const body: Record<string, unknown> = { token: issued.token, access_token: issued.token, expires_in: issued.expiresIn, issued_at: issued.issuedAt };
    if (query.get('offline_token') === 'true' && user !== undefined && !apiToken) body.refresh_token = await issuer.issueRefresh(user, access.htpasswd!.passwordStamp(user)!);
    logTokenIssued(logger, user, query.get('client_id'), requested, granted, apiToken);
    return send(res, 200, body);
  }

  if (method === 'POST') {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') return oauthError(res, 400, 'invalid_request', 'expected an application/x-www-form-urlencoded form');
    const form = new URLSearchParams(
      (await readBody(req, MAX_FORM_BYTES, () => new RegistryError('SIZE_INVALID', 'token request form too large'))).toString('utf8'),
    );
    const service = form.get('service');
    if (service !== null && service !== token.service) return oauthError(res, 400, 'invalid_request', `unknown service ${JSON.stringify(service.slice(0, 100))}`);
    const grantType = form.get('grant_type');
    let user: string;
    let refreshToken: string | undefined;
    let apiToken: ApiTokenInfo | undefined;
    if (grantType === 'password') {
      const username = form.get('username');
      const password = form.get('password');
      if (!username || password === null) return oauthError(res, 400, 'invalid_request', 'username and password are required');
      const check = await access.checkCredentials(username, password, address);
      if (!check.ok && check.reason === 'limited') {
        return oauthError(res, 429, 'too_many_requests', 'too many failed login attempts', { 'Retry-After': String(check.retryAfterSeconds) });
      }
      if (!check.ok) return oauthError(res, 400, 'invalid_grant', 'invalid username or password');
      user = check.user;
      apiToken = check.apiToken;
      if (form.get('access_type') === 'offline' && !apiToken) refreshToken = await issuer.issueRefresh(user, access.htpasswd!.passwordStamp(user)!);
    } else if (grantType === 'refresh_token') {
      const presented = form.get('refresh_token');
      if (!presented) return oauthError(res, 400, 'invalid_request', 'refresh_token is required');
      try {
        const refresh = await token.verifier.verifyRefresh(presented);
        if (access.htpasswd?.passwordStamp(refresh.user) !== refresh.stamp) throw new TokenError('the password changed or the user is gone');
        user = refresh.user;
        refreshToken = presented;
      } catch (error) {
        logger.info({ address, reason: error instanceof TokenError ? error.message : 'invalid' }, 'refresh token refused');
        return oauthError(res, 400, 'invalid_grant', 'invalid refresh token');
      }
    } else {
      return oauthError(res, 400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
    }
    const requested = mergeAccess(parseScopes(form.get('scope') ?? ''));
    const granted = access.grant(user, requested, apiToken);
    const issued = await issuer.issue(user, granted, new Date(), apiTokenClaims(apiToken));
    logTokenIssued(logger, user, form.get('client_id'), requested, granted, apiToken);
    return send(res, 200, {
      access_token: issued.token,
      token: issued.token,
      scope: granted.map(formatScope).join(' '),
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(refreshToken ? { refresh_token: refreshToken } : {}),
    });
  }

  return oauthError(res, 405, 'invalid_request', 'use GET or POST', { Allow: 'GET, POST' });
}

function apiTokenClaims(apiToken: ApiTokenInfo | undefined): { apiToken?: string; notAfter?: Date } {
  if (!apiToken) return {};
  return { apiToken: apiToken.id, ...(apiToken.expiresAt ? { notAfter: apiToken.expiresAt } : {}) };
}

function logTokenIssued(
  logger: Logger,
  user: string | undefined,
  clientId: string | null,
  requested: ResourceAccess[],
  granted: ResourceAccess[],
  apiToken: ApiTokenInfo | undefined,
): void {
  logger.debug(
    {
      user: user ?? '(anonymous)',
      clientId: clientId?.slice(0, 100),
      ...(apiToken ? { apiToken: apiToken.id } : {}),
      requested: requested.map(formatScope),
      granted: granted.map(formatScope),
    },
    'token issued',
  );
}
