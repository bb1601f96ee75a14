/**
 * The admin API's endpoints as data: one route file per resource, each exporting its routes. A new
 * resource (webhooks and deliveries, builds) adds its file here; the OpenAPI document (openapi.ts) and
 * the UI's feature list are derived from this table, and a test checks the document against it.
 */
import type { AdminMethod, AdminOperation, AdminRoute } from './admin-context.ts';
import * as session from './session.ts';
import * as tokens from './tokens.ts';
import * as usage from './usage.ts';
import * as repositories from './repositories.ts';
import * as manifests from './manifests.ts';
import * as operations from './operations.ts';
import * as openapi from './openapi.ts';

export const ADMIN_ROUTES: AdminRoute[] = [
  ...session.routes,
  ...tokens.routes,
  ...usage.routes,
  ...repositories.routes,
  ...manifests.routes,
  ...operations.routes,
  // Extension point: webhooks/deliveries and builds route files join here.
  ...openapi.routes,
];

export type AdminMatch =
  | { kind: 'found'; route: AdminRoute; operation: AdminOperation; params: Record<string, string> }
  | { kind: 'method-not-allowed'; route: AdminRoute }
  | { kind: 'not-found' };

/** Matches a path under /pier/api/v1/ (a trailing slash is ignored); HEAD is served as GET. */
export function matchAdminRoute(method: string, rest: string, routes: AdminRoute[] = ADMIN_ROUTES): AdminMatch {
  const path = rest.replace(/\/$/, '');
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const operation = route.methods[(method === 'HEAD' ? 'GET' : method) as AdminMethod];
    if (!operation) return { kind: 'method-not-allowed', route };
    const params: Record<string, string> = {};
    route.params.forEach((key, i) => (params[key] = m[i + 1]!));
    return { kind: 'found', route, operation, params };
  }
  return { kind: 'not-found' };
}
