/**
 * The registry's endpoints as data: method, path pattern and handler. Repository names contain `/`, so
 * each pattern anchors on the fixed words after the name (`/manifests/`, `/blobs/`, …) and takes the
 * longest name that fits; names are validated by the handlers before anything else happens.
 */
import type { Handler } from './exchange.ts';
import * as base from './routes/base.ts';
import * as blobs from './routes/blobs.ts';
import * as uploads from './routes/uploads.ts';
import * as manifests from './routes/manifests.ts';
import * as listings from './routes/listings.ts';
import * as referrers from './routes/referrers.ts';

export interface Route {
  /** A stable label for logs and metrics (never holds a repository name). */
  id: string;
  pattern: RegExp;
  params: Array<'name' | 'reference' | 'digest' | 'uuid'>;
  methods: Partial<Record<'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', Handler>>;
}

export const ROUTES: Route[] = [
  { id: 'base', pattern: /^\/v2\/?$/, params: [], methods: { GET: base.check, HEAD: base.check } },
  { id: 'catalog', pattern: /^\/v2\/_catalog$/, params: [], methods: { GET: listings.catalog } },
  { id: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, params: ['name'], methods: { GET: listings.tags } },
  {
    id: 'manifest',
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    params: ['name', 'reference'],
    methods: { GET: manifests.get, HEAD: manifests.head, PUT: manifests.put, DELETE: manifests.remove },
  },
  { id: 'upload-start', pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/, params: ['name'], methods: { POST: uploads.start } },
  {
    id: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    params: ['name', 'uuid'],
    methods: { GET: uploads.status, PATCH: uploads.append, PUT: uploads.complete, DELETE: uploads.cancel },
  },
  {
    id: 'blob',
    pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    params: ['name', 'digest'],
    methods: { GET: blobs.get, HEAD: blobs.head, DELETE: blobs.remove },
  },
  { id: 'referrers', pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, params: ['name', 'digest'], methods: { GET: referrers.list } },
];

export type RouteMatch =
  | { kind: 'found'; route: Route; handler: Handler; params: Record<string, string> }
  | { kind: 'method-not-allowed'; route: Route }
  | { kind: 'not-found' };

export function matchRoute(method: string, path: string): RouteMatch {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    const handler = route.methods[method as keyof Route['methods']];
    if (!handler) return { kind: 'method-not-allowed', route };
    const params: Record<string, string> = {};
    route.params.forEach((key, i) => (params[key] = m[i + 1]!));
    return { kind: 'found', route, handler, params };
  }
  return { kind: 'not-found' };
}
