/**
 * Pier's admin API (Pier-only), JSON under `/pier/api/v1/`:
 *
 * | method | path | who | what |
 * |---|---|---|---|
 * | GET | `tokens[?user=U]` | any user: their own; admins: everyone's | list API tokens (never a secret) |
 * | POST | `tokens` | any user for themselves; admins for anyone | create: `{name, scope, expiresAt?, expiresIn?, user?}` → 201 with the secret, once |
 * | GET, DELETE | `tokens/{id}` | the owner, admins | show, revoke (204) |
 * | GET | `usage?repository=R` / `usage?namespace=N` | admins; users for what they may pull / their own namespace | bytes used, quotas |
 *
 * Callers authenticate as on /v2: Basic credentials (a password, or an API token — which may see and revoke
 * only itself and read usage within its scope) or a bearer token from this registry's /token (as the user it
 * was issued to; one issued for an API token counts as that API token). Tokens from an external issuer are
 * refused. Admins are the users of `access.policy.admins`.
 *
 * Without any authentication configured the API answers only local calls: from a loopback address, to a
 * loopback `Host` (defeats DNS rebinding), with no proxy header (`Forwarded`, `X-Forwarded-For`, …) and no
 * foreign `Origin` — everything else gets 403 DENIED saying why. A local caller acts as an admin.
 *
 * Errors use the distribution spec's body `{"errors":[{"code","message","detail"}]}`: UNAUTHORIZED (401, with
 * the challenge), DENIED (403), TOOMANYREQUESTS (429), NAME_INVALID/NAME_UNKNOWN (usage), UNSUPPORTED (405),
 * and the admin API's own INVALID_REQUEST (400), NOT_FOUND (404) and CONFLICT (409). POST bodies must be
 * `application/json` (a cross-site form cannot send one without a CORS preflight, which Pier never grants).
 * Responses are never cached; secrets and Authorization headers are never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.ts';
import type { AccessControl, Caller } from '../../auth/access-control.ts';
import { ApiTokenError, parseExpiry, tokenJson, type ApiTokenInfo, type ApiTokens } from '../../auth/api-tokens/api-tokens.ts';
import type { QuotaRule } from '../../registry/policies/quotas.ts';
import type { MetadataIndex } from '../../registry/ports.ts';
import { RegistryError } from '../../registry/errors.ts';
import { parseRepositoryName } from '../../registry/model/repository-name.ts';
import { sendError } from '../error-mapping.ts';
import { readBody } from '../params.ts';
import { NAMESPACE, usageReport } from './usage-report.ts';

export const ADMIN_PREFIX = '/pier/api/v1/';

export interface AdminApiOptions {
  logger: Logger;
  apiTokens: ApiTokens;
  index: MetadataIndex;
  /** lifecycle.quotas, for the limits shown with usage. */
  quotas: QuotaRule[];
  /** Authentication and the policy; absent when the registry has none (then only local calls are answered). */
  access?: AccessControl;
  /** More resources (each in its own route file: builds, webhooks, deliveries, callbacks), served to admins only unless public. */
  resources?: AdminResource[];
}

/** A resource of the admin API kept in its own file (builds, …): matches paths below /pier/api/v1/. */
export interface AdminResource {
  route(rest: string): AdminResourceRoute | undefined;
}

export interface AdminResourceRoute {
  id: string;
  methods: string[];
  /** Answered without authentication: the route checks its own credential (a callback URL's token). */
  public?: boolean;
  serve(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, user: string | undefined): Promise<void>;
}

/** Serves a request under /pier/api/; returns the route id for logs and metrics. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => Promise<string>;

interface AdminCaller {
  /** undefined: a local call on a registry without authentication. */
  user: string | undefined;
  admin: boolean;
  /** The API token the caller authenticated with (directly or through a registry token). */
  apiToken?: ApiTokenInfo;
  /** For permission checks against the policy. */
  caller?: Caller;
}

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const NO_STORE = { 'Cache-Control': 'no-store' };
const MAX_BODY_BYTES = 16 * 1024;
const TOKEN_ID = /^[0-9a-f]{16}$/;
const LOOPBACK_ADDRESS = /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip'];

interface Route {
  id: string;
  methods: string[];
  tokenId?: string;
  public?: boolean;
  serve?: AdminResourceRoute['serve'];
}

function routeOf(path: string): Route | undefined {
  const rest = path.slice(ADMIN_PREFIX.length).replace(/\/$/, '');
  if (!path.startsWith(ADMIN_PREFIX)) return undefined;
  if (rest === 'tokens') return { id: 'admin-tokens', methods: ['GET', 'POST'] };
  if (rest === 'usage') return { id: 'admin-usage', methods: ['GET'] };
  const m = /^tokens\/([^/]+)$/.exec(rest);
  if (m) return { id: 'admin-token', methods: ['GET', 'DELETE'], tokenId: m[1]! };
  return undefined;
}

export function createAdminApi(options: AdminApiOptions): AdminHandler {
  const { logger, apiTokens, index, access } = options;

  async function authenticate(req: IncomingMessage): Promise<AdminCaller> {
    if (!access) {
      if (isLocalRequest(req)) return { user: undefined, admin: true };
      throw new RegistryError(
        'DENIED',
        'the admin API needs authentication, and none is configured (auth.htpasswd or auth.token): it answers only requests made on a loopback address of this host, without a proxy in between',
      );
    }
    const result = await access.authenticate(req.headers.authorization, req.socket.remoteAddress);
    if (!result.ok) {
      if (result.reason === 'limited') throw new RegistryError('TOOMANYREQUESTS', 'too many failed login attempts', null, { retryAfter: result.retryAfterSeconds });
      throw unauthorized(result.message);
    }
    const caller = result.caller;
    const isAdmin = (user: string): boolean => access.policy.enabled && access.policy.isAdmin(user);
    switch (caller.kind) {
      case 'anonymous':
        throw unauthorized('authentication required');
      case 'user':
        return { user: caller.user, admin: isAdmin(caller.user), caller };
      case 'apiToken':
        return { user: caller.user, admin: false, apiToken: caller.token, caller };
      case 'token': {
        if (!caller.ownKey) throw new RegistryError('DENIED', 'tokens from an external issuer are not accepted by the admin API: use Basic credentials or a token from this registry');
        if (caller.user === undefined) throw unauthorized('authentication required');
        if (caller.apiToken) return { user: caller.user, admin: false, apiToken: caller.apiToken, caller: { kind: 'apiToken', user: caller.user, token: caller.apiToken } };
        return { user: caller.user, admin: isAdmin(caller.user), caller: { kind: 'user', user: caller.user } };
      }
    }
  }

  function unauthorized(message: string): RegistryError {
    const challenge = access!.htpasswd ? `Basic realm="${access!.basicRealm.replace(/["\\]/g, '\\$&')}"` : access!.challenge([]);
    return new RegistryError('UNAUTHORIZED', message, null, { challenge });
  }

  function noApiToken(caller: AdminCaller): void {
    if (caller.apiToken) throw new RegistryError('DENIED', 'an API token cannot list or create API tokens: authenticate with your password');
  }

  /** A token the caller may see: its own (an API token only itself), or any for an admin. Others are "not found". */
  async function visibleToken(caller: AdminCaller, id: string): Promise<ApiTokenInfo> {
    const token = TOKEN_ID.test(id) ? await apiTokens.get(id) : undefined;
    const visible = token !== undefined && (caller.admin || (caller.apiToken ? caller.apiToken.id === token.id : token.user === caller.user));
    if (!visible) throw new AdminError(404, 'NOT_FOUND', 'no such API token');
    return token!;
  }

  async function listTokens(caller: AdminCaller, res: ServerResponse, query: URLSearchParams): Promise<void> {
    noApiToken(caller);
    const user = query.get('user') || undefined;
    if (!caller.admin && user !== undefined && user !== caller.user) throw new RegistryError('DENIED', "only admins may see other users' API tokens");
    const tokens = await apiTokens.list(caller.admin ? user : caller.user);
    json(res, 200, { tokens: tokens.map(tokenJson) });
  }

  async function createToken(caller: AdminCaller, req: IncomingMessage, res: ServerResponse): Promise<void> {
    noApiToken(caller);
    const body = await readJson(req);
    const { name, scope, user, expiresAt, expiresIn, ...rest } = body;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new AdminError(400, 'INVALID_REQUEST', `unknown field ${JSON.stringify(unknown[0]!.slice(0, 50))} (expected name, scope, user, expiresAt, expiresIn)`);
    if (user !== undefined && typeof user !== 'string') throw new AdminError(400, 'INVALID_REQUEST', 'user: a string');
    if (typeof name !== 'string') throw new AdminError(400, 'INVALID_REQUEST', 'name: required, a string');
    const owner = user ?? caller.user;
    if (owner === undefined) throw new AdminError(400, 'INVALID_REQUEST', 'user: required (the token acts for this htpasswd user)');
    if (!caller.admin && owner !== caller.user) throw new RegistryError('DENIED', 'only admins may create API tokens for other users');
    if (access?.htpasswd && !access.htpasswd.has(owner)) throw new AdminError(400, 'INVALID_REQUEST', `user: no user ${JSON.stringify(owner.slice(0, 100))} in the htpasswd file`);
    if (expiresAt !== undefined && expiresIn !== undefined) throw new AdminError(400, 'INVALID_REQUEST', 'give expiresAt or expiresIn, not both');
    for (const [key, value] of [['expiresAt', expiresAt], ['expiresIn', expiresIn]] as const) {
      if (value !== undefined && value !== null && typeof value !== 'string') throw new AdminError(400, 'INVALID_REQUEST', `${key}: a string`);
    }
    try {
      if (typeof expiresAt === 'string' && !/^\d{4}-\d{2}-\d{2}/.test(expiresAt.trim())) throw new ApiTokenError('invalid', 'expiresAt: a date or date-time (ISO 8601)');
      const expiry = typeof expiresAt === 'string' ? parseExpiry(expiresAt) : typeof expiresIn === 'string' ? parseExpiry(expiresIn) : undefined;
      const created = await apiTokens.create({ user: owner, name, scope: scope as never, ...(expiry ? { expiresAt: expiry } : {}) });
      logger.info({ tokenId: created.token.id, user: owner, name, by: caller.user ?? '(local)' }, 'API token created');
      json(res, 201, { ...tokenJson(created.token), token: created.secret }, { Location: `${ADMIN_PREFIX}tokens/${created.token.id}` });
    } catch (error) {
      if (error instanceof ApiTokenError) throw new AdminError(error.kind === 'conflict' ? 409 : 400, error.kind === 'conflict' ? 'CONFLICT' : 'INVALID_REQUEST', error.message);
      throw error;
    }
  }

  async function usage(caller: AdminCaller, res: ServerResponse, query: URLSearchParams): Promise<void> {
    const repository = query.get('repository');
    const namespace = query.get('namespace');
    if ((repository === null) === (namespace === null)) throw new AdminError(400, 'INVALID_REQUEST', 'give exactly one of repository or namespace');
    if (repository !== null) {
      const name = parseRepositoryName(repository);
      const allowed = caller.admin || (caller.caller !== undefined && access !== undefined && access.allows(caller.caller, 'repository', name, 'pull'));
      if (!allowed) throw new RegistryError('DENIED', 'requested access to the resource is denied', [{ Type: 'repository', Class: '', Name: name, Action: 'pull' }]);
      if (!(await index.repositoryExists(name))) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
      return json(res, 200, await usageReport(index, options.quotas, { repository: name }));
    }
    if (!NAMESPACE.test(namespace!) || namespace!.length > 255) throw new RegistryError('NAME_INVALID', 'invalid namespace: the first component of a repository name', { namespace: namespace!.slice(0, 256) });
    const own = caller.user !== undefined && !caller.apiToken && (!access?.policy.enabled || namespace === caller.user);
    if (!caller.admin && !own) throw new RegistryError('DENIED', 'only admins may see the usage of a namespace other than your own');
    json(res, 200, await usageReport(index, options.quotas, { namespace: namespace! }));
  }

  return async (req, res, path, query) => {
    const rest = path.startsWith(ADMIN_PREFIX) ? path.slice(ADMIN_PREFIX.length) : undefined;
    const route: Route | undefined = routeOf(path) ?? (rest !== undefined ? options.resources?.map((r) => r.route(rest)).find((r) => r !== undefined) : undefined);
    const method = req.method ?? 'GET';
    try {
      if (!route) throw new AdminError(404, 'NOT_FOUND', 'no such admin endpoint');
      const methods = route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods;
      if (!methods.includes(method)) throw new AdminError(405, 'UNSUPPORTED', `method ${method} is not supported on this endpoint`, { Allow: route.methods.join(', ') });
      const isPublic = route.public === true;
      const caller: AdminCaller = isPublic ? { user: undefined, admin: false } : await authenticate(req);
      if (route.serve) {
        if (!isPublic && !caller.admin) throw new RegistryError('DENIED', 'only admins may use this part of the admin API');
        await route.serve(req, res, query, caller.user);
      } else if (route.id === 'admin-tokens') {
        if (method === 'POST') await createToken(caller, req, res);
        else await listTokens(caller, res, query);
      } else if (route.id === 'admin-token') {
        const token = await visibleToken(caller, route.tokenId!);
        if (method === 'DELETE') {
          await apiTokens.revoke(token.id);
          logger.info({ tokenId: token.id, user: token.user, name: token.name, by: caller.user ?? '(local)' }, 'API token revoked');
          res.writeHead(204, NO_STORE);
          res.end();
        } else {
          json(res, 200, tokenJson(token));
        }
      } else {
        await usage(caller, res, query);
      }
    } catch (error) {
      if (error instanceof AdminError) {
        sendAdminError(res, error);
      } else if (RegistryError.is(error)) {
        const headers: Record<string, string> = { ...NO_STORE };
        if (typeof error.hints.challenge === 'string') headers['WWW-Authenticate'] = error.hints.challenge;
        if (typeof error.hints.retryAfter === 'number') headers['Retry-After'] = String(error.hints.retryAfter);
        sendError(res, error, headers);
      } else {
        throw error;
      }
    }
    return route?.id ?? 'admin-unknown';
  };
}

export function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(value);
  res.writeHead(status, { ...NO_STORE, ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload); // node:http leaves the body out of a HEAD response
}

function sendAdminError(res: ServerResponse, error: AdminError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  json(res, error.status, { errors: [{ code: error.code, message: error.message, detail: null }] }, error.headers);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AdminError(400, 'INVALID_REQUEST', 'expected Content-Type: application/json');
  const raw = await readBody(req, MAX_BODY_BYTES, () => new RegistryError('SIZE_INVALID', `request body larger than ${MAX_BODY_BYTES} bytes`));
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AdminError(400, 'INVALID_REQUEST', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AdminError(400, 'INVALID_REQUEST', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

/**
 * A call the registry's own host makes to itself: from a loopback address, addressed to a loopback host name,
 * not relayed by a proxy, and not from a web page of another origin.
 */
export function isLocalRequest(req: IncomingMessage): boolean {
  if (!LOOPBACK_ADDRESS.test(req.socket.remoteAddress ?? '')) return false;
  if (PROXY_HEADERS.some((h) => req.headers[h] !== undefined)) return false;
  const host = req.headers.host ?? req.headers[':authority'];
  if (typeof host !== 'string' || !isLoopbackHost(host)) return false;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    try {
      if (!isLoopbackHost(new URL(origin).host)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function isLoopbackHost(hostPort: string): boolean {
  const text = hostPort.trim().toLowerCase();
  const host = text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.replace(/:\d*$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
