/**
 * The events resources of the admin API (webhooks, deliveries, callbacks) are written against this small
 * handler shape and plugged into admin-api.ts's `resources` by `adminResource`: the route's parameters are
 * parsed once in `match`, and admin-api.ts authenticates the caller and lets only admins through, unless
 * the route is `public` (it then checks its own credential, as a callback URL's token).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminResource } from './admin-api.ts';

export interface AdminRouteMatch {
  /** For logs and metrics. */
  id: string;
  methods: string[];
  params: Record<string, string>;
  public?: boolean;
}

export interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** Admins only reach a handler, except on public routes (then `admin` is false and `user` undefined). */
  caller: { user: string | undefined; admin: boolean };
}

export interface ResourceHandler {
  /** `rest`: the path below /pier/api/v1/, without a trailing slash. */
  match(rest: string): AdminRouteMatch | undefined;
  handle(request: AdminRequest): Promise<void>;
}

export function adminResource(handler: ResourceHandler): AdminResource {
  return {
    route(rest) {
      const m = handler.match(rest.replace(/\/$/, ''));
      if (!m) return undefined;
      return {
        id: m.id,
        methods: m.methods,
        ...(m.public ? { public: true } : {}),
        serve: (req, res, query, user) =>
          handler.handle({ req, res, method: req.method ?? 'GET', query, params: m.params, caller: { user, admin: m.public !== true } }),
      };
    },
  };
}
