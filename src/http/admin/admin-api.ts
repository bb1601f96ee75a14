/**
 * Pier's admin API (Pier-only), JSON under `/pier/api/v1/`. Its endpoints are listed as data in
 * admin-routes.ts, one file per resource, and described at `/pier/api/v1/openapi.json`.
 *
 * Callers authenticate as on /v2: Basic credentials (a password, or an API token — which may see and revoke
 * only itself and read usage within its scope) or a bearer token from this registry's /token (as the user it
 * was issued to; one issued for an API token counts as that API token). Tokens from an external issuer are
 * refused. A browser signs in at `session` and then sends its session cookie; every change it makes must
 * carry the session's CSRF token in `X-CSRF-Token`. Admins are the users of `access.policy.admins`.
 * Callers without credentials are anonymous: they may use the operations open to anyone and browse what the
 * access policy lets anonymous users pull.
 *
 * Without any authentication configured the API answers only local calls as an admin: from a loopback
 * address, to a loopback `Host` (defeats DNS rebinding), with no proxy header (`Forwarded`,
 * `X-Forwarded-For`, …) and no foreign `Origin`. Everyone else is anonymous and may only browse (the
 * registry itself is open to them anyway) — everything else gets 403 DENIED saying why.
 *
 * Errors use the distribution spec's body `{"errors":[{"code","message","detail"}]}`: UNAUTHORIZED (401, with
 * the challenge), DENIED (403), TOOMANYREQUESTS (429), NAME_INVALID/NAME_UNKNOWN, MANIFEST_UNKNOWN,
 * UNSUPPORTED (405), and the admin API's own INVALID_REQUEST (400), NOT_FOUND (404) and CONFLICT (409). POST
 * bodies must be `application/json` (a cross-site form cannot send one without a CORS preflight, which Pier
 * never grants). Responses are never cached; secrets and Authorization headers are never logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CSRF_HEADER, SESSION_COOKIE, cookieValue } from '../../auth/sessions/browser-sessions.ts';
import { RegistryError } from '../../registry/errors.ts';
import { sendError } from '../error-mapping.ts';
import { AdminError, json, NO_STORE, type AdminCaller, type AdminDeps, type AdminRequest, type AdminRoute } from './admin-context.ts';
import { ADMIN_ROUTES, matchAdminRoute, type AdminMatch } from './admin-routes.ts';

export const ADMIN_PREFIX = '/pier/api/v1/';

/** What the admin API is built from: AdminDeps, with the rules and modes defaulting to none/off. */
export type AdminApiOptions = Pick<AdminDeps, 'logger' | 'apiTokens' | 'index' | 'quotas'> &
  Partial<Omit<AdminDeps, 'logger' | 'apiTokens' | 'index' | 'quotas' | 'features'>> & {
    /** More resources matched by code rather than listed in the route table (builds), served to admins only unless public (webhook callbacks). */
    resources?: AdminResource[];
  };

/** A resource of the admin API kept in its own file that matches its own paths below /pier/api/v1/ (builds, …). */
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

// For resource files written against this module.
export { AdminError, json, readJson } from './admin-context.ts';

/** Serves a request under /pier/api/; returns the route id for logs and metrics. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => Promise<string>;

const LOOPBACK_ADDRESS = /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;
const PROXY_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip'];
/** Top-level paths of resources the web UI has extension pages for (web/src/extensions.ts). */
const EXTENSION_PATHS = ['builds', 'webhooks'];
const ANONYMOUS: AdminCaller = { user: undefined, admin: false, caller: { kind: 'anonymous' } };

export function createAdminApi(options: AdminApiOptions): AdminHandler {
  const routes = options.routes ?? ADMIN_ROUTES;
  const deps: AdminDeps = {
    immutableTags: [],
    retention: [],
    deleteEnabled: false,
    readOnly: false,
    ...options,
    routes,
    // The table's routes, and those of the resources at the UI's extension paths (builds, webhooks).
    features: [
      ...routes.map((r) => r.id),
      ...EXTENSION_PATHS.flatMap((p) => (options.resources ?? []).map((r) => r.route(p)?.id).filter((id): id is string => id !== undefined)),
    ],
  };
  const { access } = deps;

  function unauthorized(message: string): RegistryError {
    const challenge = access!.htpasswd ? `Basic realm="${access!.basicRealm.replace(/["\\]/g, '\\$&')}"` : access!.challenge([]);
    return new RegistryError('UNAUTHORIZED', message, null, { challenge });
  }

  /** Who is calling: Authorization header first, then a session cookie, else anonymous. */
  async function authenticate(req: IncomingMessage): Promise<AdminCaller> {
    if (!access) return isLocalRequest(req) ? { user: undefined, admin: true } : ANONYMOUS;
    if (req.headers.authorization === undefined || req.headers.authorization.trim() === '') return (await fromSession(req)) ?? ANONYMOUS;
    const result = await access.authenticate(req.headers.authorization, req.socket.remoteAddress);
    if (!result.ok) {
      if (result.reason === 'limited') throw new RegistryError('TOOMANYREQUESTS', 'too many failed login attempts', null, { retryAfter: result.retryAfterSeconds });
      throw unauthorized(result.message);
    }
    const caller = result.caller;
    const isAdmin = (user: string): boolean => access.policy.enabled && access.policy.isAdmin(user);
    switch (caller.kind) {
      case 'anonymous':
        return ANONYMOUS;
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

  /** The caller of a live browser session: its user still in the htpasswd file, its API token still valid. */
  async function fromSession(req: IncomingMessage): Promise<AdminCaller | undefined> {
    const secret = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!access || !deps.sessions || secret === undefined) return undefined;
    const session = await deps.sessions.find(secret);
    if (!session || (access.htpasswd && !access.htpasswd.has(session.user))) return undefined;
    if (session.apiTokenId !== undefined) {
      const check = await deps.apiTokens.stillValid(session.apiTokenId, session.user);
      if (!check.ok) return undefined;
      return { user: session.user, admin: false, apiToken: check.token, caller: { kind: 'apiToken', user: session.user, token: check.token }, session: { secret } };
    }
    const admin = access.policy.enabled && access.policy.isAdmin(session.user);
    return { user: session.user, admin, caller: { kind: 'user', user: session.user }, session: { secret } };
  }

  function admit(caller: AdminCaller, audience: string): void {
    const signedIn = caller.user !== undefined || caller.admin;
    if (audience === 'user' || audience === 'admin') {
      if (!signedIn) {
        if (access) throw unauthorized('authentication required');
        throw new RegistryError(
          'DENIED',
          'the admin API needs authentication, and none is configured (auth.htpasswd or auth.token): it answers only requests made on a loopback address of this host, without a proxy in between',
        );
      }
      if (audience === 'admin' && !caller.admin) throw new RegistryError('DENIED', 'only admins may use this endpoint');
    }
  }

  /** Resource routes that check their own credential (a callback URL's token): no authentication here. */
  const publicRoutes = new WeakSet<AdminRoute>();

  /** A resource's route as a table entry: admins only (unless public), the same authentication and CSRF rules. */
  function resourceMatch(method: string, rest: string): AdminMatch | undefined {
    for (const resource of options.resources ?? []) {
      const route = resource.route(rest);
      if (!route) continue;
      const methods = Object.fromEntries(
        route.methods.map((m) => [m, { summary: route.id, audience: route.public ? ('anyone' as const) : ('admin' as const), success: { status: 200, description: '' }, handler: async (r: AdminRequest) => route.serve(r.req, r.res, r.query, r.caller.user) }]),
      );
      const entry: AdminRoute = { id: route.id, path: rest, pattern: /^$/, params: [], methods };
      if (route.public) publicRoutes.add(entry);
      const operation = methods[method === 'HEAD' ? 'GET' : method];
      return operation ? { kind: 'found', route: entry, operation, params: {} } : { kind: 'method-not-allowed', route: entry };
    }
    return undefined;
  }

  return async (req, res, path, query) => {
    const method = req.method ?? 'GET';
    const rest = path.startsWith(ADMIN_PREFIX) ? path.slice(ADMIN_PREFIX.length) : undefined;
    const found = rest !== undefined ? matchAdminRoute(method, rest, routes) : { kind: 'not-found' as const };
    const match = found.kind === 'not-found' && rest !== undefined ? (resourceMatch(method, rest) ?? found) : found;
    try {
      if (match.kind === 'not-found') throw new AdminError(404, 'NOT_FOUND', 'no such admin endpoint');
      if (match.kind === 'method-not-allowed') {
        throw new AdminError(405, 'UNSUPPORTED', `method ${method} is not supported on this endpoint`, { Allow: Object.keys(match.route.methods).join(', ') });
      }
      const caller = publicRoutes.has(match.route) ? ANONYMOUS : await authenticate(req);
      admit(caller, match.operation.audience);
      // A browser session's changes must prove they come from Pier's own page.
      const changes = method !== 'GET' && method !== 'HEAD';
      if (changes && caller.session && !deps.sessions!.csrfMatches(caller.session.secret, headerValue(req.headers[CSRF_HEADER]))) {
        throw new RegistryError('DENIED', 'missing or wrong CSRF token: send the X-CSRF-Token header given by GET /pier/api/v1/session');
      }
      await match.operation.handler({ req, res, query, params: match.params, caller, deps });
    } catch (error) {
      if (error instanceof AdminError) {
        sendAdminError(res, error);
      } else if (RegistryError.is(error)) {
        const headers: Record<string, string> = { ...NO_STORE };
        // A page's own fetch() gets no challenge, so the browser does not pop up its Basic login dialog.
        const scripted = req.headers['sec-fetch-site'] !== undefined && req.headers['sec-fetch-mode'] !== 'navigate';
        const challenge = typeof error.hints.challenge === 'string' ? error.hints.challenge : error.code === 'UNAUTHORIZED' && access ? unauthorized('').hints.challenge : undefined;
        if (typeof challenge === 'string' && !scripted) headers['WWW-Authenticate'] = challenge;
        if (typeof error.hints.retryAfter === 'number') headers['Retry-After'] = String(error.hints.retryAfter);
        sendError(res, error, headers);
      } else {
        throw error;
      }
    }
    return match.kind === 'not-found' ? 'admin-unknown' : match.route.id;
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sendAdminError(res: ServerResponse, error: AdminError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  json(res, error.status, { errors: [{ code: error.code, message: error.message, detail: null }] }, error.headers);
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
