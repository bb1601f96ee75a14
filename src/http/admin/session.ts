/**
 * `session`: the browser's sign-in. GET tells the page who it is (anonymous included), its CSRF token and
 * what it may do; POST signs in with an htpasswd user and password or an API token and sets the session
 * cookie; DELETE signs out. See auth/sessions/browser-sessions.ts for the cookie and CSRF scheme.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { RegistryError } from '../../registry/errors.ts';
import { csrfTokenOf, sessionCookie } from '../../auth/sessions/browser-sessions.ts';
import { AdminError, json, noContent, readJson, type AdminRequest, type AdminRoute } from './admin-context.ts';

const LOOPBACK_HOST = /^(?:localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::\d+)?$/i;

/** Secure over TLS, and on a loopback host (browsers accept Secure cookies there over plain HTTP). */
export function secureCookies(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true || LOOPBACK_HOST.test(req.headers.host ?? '');
}

/** The host in pull commands: http.host when configured, else the address the browser used. */
function registryHost(r: AdminRequest): string {
  if (r.deps.publicHost) {
    try {
      return new URL(r.deps.publicHost).host;
    } catch {
      return r.deps.publicHost;
    }
  }
  const host = r.req.headers.host ?? r.req.headers[':authority'];
  return typeof host === 'string' && /^[A-Za-z0-9.:[\]-]{1,300}$/.test(host) ? host : 'localhost';
}

async function describe(r: AdminRequest): Promise<void> {
  const { caller, deps } = r;
  const signedIn = caller.user !== undefined || caller.admin;
  json(r.res, 200, {
    user: caller.user ?? null,
    signedIn,
    admin: caller.admin,
    viaApiToken: caller.apiToken ? { id: caller.apiToken.id, name: caller.apiToken.name } : null,
    csrfToken: caller.session ? csrfTokenOf(caller.session.secret) : null,
    authentication: deps.access ? 'required' : 'none',
    registryHost: registryHost(r),
    deleteEnabled: deps.deleteEnabled,
    readOnly: deps.readOnly,
    features: deps.features ?? [],
  });
}

async function signIn(r: AdminRequest): Promise<void> {
  const { deps, req, res } = r;
  if (!deps.access?.htpasswd || !deps.sessions) throw new AdminError(404, 'NOT_FOUND', 'signing in needs auth.htpasswd: this registry has no users');
  const body = await readJson(req);
  const { user, password } = body;
  if (typeof user !== 'string' || typeof password !== 'string' || user.length === 0 || password.length === 0 || user.length > 256 || password.length > 1024) {
    throw new AdminError(400, 'INVALID_REQUEST', 'user and password: required strings (the password may be an API token)');
  }
  const check = await deps.access.checkCredentials(user, password, req.socket.remoteAddress);
  if (!check.ok) {
    if (check.reason === 'limited') throw new RegistryError('TOOMANYREQUESTS', 'too many failed login attempts', null, { retryAfter: check.retryAfterSeconds });
    throw new AdminError(401, 'UNAUTHORIZED', 'invalid username or password');
  }
  const started = await deps.sessions.start(check.user, check.apiToken?.id);
  deps.logger.info({ user: check.user, ...(check.apiToken ? { tokenId: check.apiToken.id } : {}) }, 'signed in');
  const admin = !check.apiToken && deps.access.policy.enabled && deps.access.policy.isAdmin(check.user);
  json(res, 201, { user: check.user, admin, csrfToken: started.csrfToken }, { 'Set-Cookie': sessionCookie(started.secret, { secure: secureCookies(req) }) });
}

async function signOut(r: AdminRequest): Promise<void> {
  if (r.caller.session && r.deps.sessions) {
    const session = await r.deps.sessions.find(r.caller.session.secret);
    if (session) await r.deps.sessions.end(session);
    r.deps.logger.info({ user: r.caller.user }, 'signed out');
  }
  noContent(r.res, { 'Set-Cookie': sessionCookie(undefined, { secure: secureCookies(r.req) }) });
}

export const routes: AdminRoute[] = [
  {
    id: 'admin-session',
    path: 'session',
    pattern: /^session$/,
    params: [],
    methods: {
      GET: {
        summary: 'Who the caller is (or anonymous), the CSRF token of its browser session, the registry host and the features this server has.',
        audience: 'anyone',
        handler: describe,
        success: { status: 200, description: '{user, signedIn, admin, csrfToken, registryHost, deleteEnabled, features}' },
      },
      POST: {
        summary: 'Sign in with an htpasswd user and password (or an API token as the password); sets the session cookie.',
        audience: 'anyone',
        handler: signIn,
        body: { type: 'object', required: ['user', 'password'], properties: { user: { type: 'string' }, password: { type: 'string' } } },
        success: { status: 201, description: '{user, admin, csrfToken}, and the HttpOnly session cookie' },
      },
      DELETE: {
        summary: 'Sign out: ends the browser session and clears its cookie.',
        audience: 'anyone',
        handler: signOut,
        success: { status: 204, description: 'signed out' },
      },
    },
  },
];
