/**
 * A resource of the admin API in its own route file (webhooks, deliveries, callbacks, …), plugged into
 * admin-api.ts. The admin API authenticates the caller and lets only admins through, unless the route is
 * `public` (it then checks its own credential, as a callback URL's token).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

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
  caller: { user: string | undefined; admin: boolean };
}

export interface AdminResource {
  /** `rest`: the path below /pier/api/v1/, without a trailing slash. */
  match(rest: string): AdminRouteMatch | undefined;
  handle(request: AdminRequest): Promise<void>;
}
