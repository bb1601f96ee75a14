/**
 * What stands between a request and its handler (server.ts calls it): the configured response headers,
 * authentication and authorization of every /v2 request, read-only mode, and the built-in token endpoint.
 *
 * Each /v2 route needs what the reference registry asks of it: GET/HEAD → `pull`; POST/PUT/PATCH → `pull`
 * and `push`; DELETE → `delete` on the repository; the catalog → `registry:catalog:*`; the base `/v2/` →
 * any authenticated caller. Missing credentials (or a token lacking the scope) get 401 UNAUTHORIZED with a
 * `WWW-Authenticate` challenge naming the scope; a signed-in user the policy refuses gets 403 DENIED; too
 * many failed logins get 429 TOOMANYREQUESTS with `Retry-After`.
 *
 * Basic credentials may carry an API token instead of a password; the caller may then do only what the
 * token's scope and the policy both allow (a refusal is 403 DENIED, as for a user).
 *
 * A cross-repository mount (`POST …/blobs/uploads/?mount=…&from=…`) only mounts when the caller may pull
 * `from`; otherwise (or without `from`) it becomes a plain upload, as in the reference registry, so a digest
 * alone never copies a blob out of a repository the caller cannot read.
 */
import { noteActor } from '../events/request-context.ts';
import type { ServerResponse, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Exchange, Handler } from './exchange.ts';
import { replyJson } from './exchange.ts';
import { lastParam, pageNumber } from './params.ts';
import { RegistryError } from '../registry/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { AccessControl } from '../auth/access-control.ts';
import type { ResourceAccess } from '../auth/scope.ts';
import { serveTokenEndpoint } from './token-endpoint.ts';

export interface RequestGate {
  /** Called first for every request: sets the configured response headers. */
  begin(res: ServerResponse): void;
  /** Serves a path outside /v2 that the gate owns (the token endpoint); returns its route id, or undefined. */
  serve(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<string | undefined>;
  /**
   * Checks a /v2 request before its handler runs: throws a RegistryError to refuse it; may return a
   * handler to run instead (the catalog filtered to what the caller may pull).
   */
  authorize(exchange: Exchange, routeId: string, method: string): Promise<Handler | undefined>;
}

export interface GateOptions {
  logger: Logger;
  headers?: Record<string, string[]>;
  readOnly?: boolean;
  access?: AccessControl;
}

const READS = new Set(['GET', 'HEAD']);

/** The user each authenticated /v2 request acts for (an API token's owner), for the activity record. */
const authenticatedUsers = new WeakMap<IncomingMessage, string>();

export function authenticatedUser(req: IncomingMessage): string | undefined {
  return authenticatedUsers.get(req);
}

/** What a route needs, in the reference registry's terms. */
export function requiredAccess(routeId: string, method: string, name: string | undefined): ResourceAccess[] {
  if (routeId === 'base') return [];
  if (routeId === 'catalog') return [{ type: 'registry', name: 'catalog', actions: ['*'] }];
  if (name === undefined) return [];
  if (READS.has(method)) return [{ type: 'repository', name, actions: ['pull'] }];
  if (method === 'DELETE') return [{ type: 'repository', name, actions: ['delete'] }];
  return [{ type: 'repository', name, actions: ['pull', 'push'] }];
}

export function createRequestGate(options: GateOptions): RequestGate {
  const headers = Object.entries(options.headers ?? {});
  const access = options.access;
  return {
    begin(res) {
      for (const [name, values] of headers) res.setHeader(name, values.length === 1 ? values[0]! : values);
    },

    async serve(req, res, path, query) {
      if (!access?.token?.endpointPath || path !== access.token.endpointPath) return undefined;
      await serveTokenEndpoint(req, res, query, access, options.logger);
      return 'token';
    },

    async authorize(ex, routeId, method) {
      let replacement: Handler | undefined;
      if (access) replacement = await authorizeRequest(access, ex, routeId, method);
      if (options.readOnly && !READS.has(method)) throw new RegistryError('UNSUPPORTED', 'registry is in read-only mode');
      return replacement;
    },
  };
}

async function authorizeRequest(access: AccessControl, ex: Exchange, routeId: string, method: string): Promise<Handler | undefined> {
  const required = requiredAccess(routeId, method, ex.params.name);
  const challengeOptions = { host: ex.req.headers.host, secure: (ex.req.socket as TLSSocket).encrypted === true };
  const authentication = await access.authenticate(ex.req.headers.authorization, ex.req.socket.remoteAddress);
  if (!authentication.ok) {
    if (authentication.reason === 'limited') {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed login attempts', null, { retryAfter: authentication.retryAfterSeconds });
    }
    throw unauthorized(access, required, authentication.message, { ...challengeOptions, ...(authentication.bearer ? { error: 'invalid_token' as const } : {}) });
  }
  const caller = authentication.caller;
  if (caller.kind !== 'anonymous' && caller.user !== undefined) authenticatedUsers.set(ex.req, caller.user);
  noteActor(caller.kind === 'apiToken' ? caller.token.name : caller.kind === 'anonymous' ? undefined : caller.user);
  if (routeId === 'base' && caller.kind === 'anonymous') throw unauthorized(access, required, 'authentication required', challengeOptions);

  const missing = required.filter((r) => !r.actions.every((a) => access.allows(caller, r.type, r.name, a)));
  if (missing.length > 0) {
    if (caller.kind === 'anonymous') throw unauthorized(access, required, 'authentication required', challengeOptions);
    if (caller.kind === 'token') throw unauthorized(access, required, 'insufficient scope', { ...challengeOptions, error: 'insufficient_scope' });
    throw new RegistryError('DENIED', 'requested access to the resource is denied', accessDetail(missing));
  }

  if (routeId === 'upload-start' && ex.query.has('mount')) {
    const from = ex.query.get('from');
    if (from === null || !access.allows(caller, 'repository', from, 'pull')) {
      ex.query.delete('mount');
      ex.query.delete('from');
    }
  }
  if (routeId === 'catalog') {
    const visible = access.catalogFilter(caller);
    if (visible) return (exchange) => filteredCatalog(exchange, visible);
  }
  return undefined;
}

function unauthorized(
  access: AccessControl,
  required: ResourceAccess[],
  message: string,
  options: { error?: 'invalid_token' | 'insufficient_scope'; host?: string | undefined; secure: boolean },
): RegistryError {
  const challenge = access.challenge(required, {
    ...(options.error ? { error: options.error } : {}),
    ...(options.host ? { host: options.host } : {}),
    secure: options.secure,
  });
  return new RegistryError('UNAUTHORIZED', message, required.length > 0 ? accessDetail(required) : null, { challenge });
}

/** The reference registry's error detail: one entry per action needed. */
function accessDetail(required: ResourceAccess[]): Array<Record<string, string>> {
  return required.flatMap((r) => r.actions.map((action) => ({ Type: r.type, Class: '', Name: r.name, Action: action })));
}

/** `GET /v2/_catalog` listing only the repositories `visible` lets through, with the usual n/last paging. */
async function filteredCatalog(ex: Exchange, visible: (repository: string) => boolean): Promise<void> {
  const n = pageNumber(ex.query) ?? 1000;
  let cursor = lastParam(ex.query);
  const items: string[] = [];
  let more = false;
  if (n > 0) {
    outer: for (;;) {
      const page = await ex.registry.listings.catalog({ n: 1000, ...(cursor !== undefined ? { last: cursor } : {}) });
      for (let i = 0; i < page.items.length; i++) {
        const repository = page.items[i]!;
        if (!visible(repository)) continue;
        items.push(repository);
        if (items.length === n) {
          more = i < page.items.length - 1 || page.next !== undefined;
          break outer;
        }
      }
      if (page.next === undefined) break;
      cursor = page.next;
    }
  }
  const headers: Record<string, string> = {};
  if (more) {
    const query = new URLSearchParams({ last: items[items.length - 1]!, n: String(n) });
    headers.Link = `</v2/_catalog?${query.toString()}>; rel="next"`;
  }
  replyJson(ex.res, 200, { repositories: items }, headers);
}
