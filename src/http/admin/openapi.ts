/**
 * `openapi.json`: the admin API described as OpenAPI 3.1, derived from the route table (admin-routes.ts)
 * so it cannot fall behind it. Served to anyone: it describes endpoints, never data.
 */
import { json, type AdminRoute } from './admin-context.ts';

const ERROR_BODY = {
  type: 'object',
  properties: {
    errors: {
      type: 'array',
      items: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} } },
    },
  },
};

const AUDIENCE_TEXT = {
  anyone: 'Anyone, signed in or not.',
  browse: 'Anyone the access policy lets pull (anonymous callers where it allows anonymous pull); results are limited to what the caller may pull.',
  user: 'A signed-in user, an API token, or a browser session.',
  admin: 'Admins only (access.policy.admins; every user when there is no policy).',
} as const;

export function openApiDocument(routes: AdminRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item: Record<string, unknown> = {};
    if (route.params.length > 0) {
      item.parameters = route.params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    }
    for (const [method, op] of Object.entries(route.methods)) {
      if (!op) continue;
      const changes = method !== 'GET';
      item[method.toLowerCase()] = {
        operationId: `${route.id}-${method.toLowerCase()}`,
        summary: op.summary,
        description: `Who: ${AUDIENCE_TEXT[op.audience]}${changes ? ' With a browser session, the X-CSRF-Token header must carry the session’s CSRF token.' : ''}`,
        ...(op.query ? { parameters: op.query.map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema })) } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } } : {}),
        ...(op.audience === 'anyone' ? { security: [] } : {}),
        responses: {
          [String(op.success.status)]: {
            description: op.success.description,
            ...(op.success.status !== 204 ? { content: { 'application/json': { schema: { type: 'object' } } } } : {}),
          },
          default: { description: 'an error in the distribution spec’s format', content: { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } } },
        },
      };
    }
    paths[`/pier/api/v1/${route.path}`] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Pier admin API',
      version: '1',
      description:
        'Pier’s own JSON API beside the registry API: browsing, API tokens, usage and operations. It is what the web UI uses, and usable on its own. Authenticate with Basic credentials (a password or an API token), a bearer token from this registry’s /token, or a browser session cookie (then changes need X-CSRF-Token).',
    },
    paths,
    components: {
      schemas: { Errors: ERROR_BODY },
      securitySchemes: {
        basic: { type: 'http', scheme: 'basic' },
        bearer: { type: 'http', scheme: 'bearer' },
        session: { type: 'apiKey', in: 'cookie', name: 'pier_session' },
      },
    },
    security: [{ basic: [] }, { bearer: [] }, { session: [] }],
  };
}

export const routes: AdminRoute[] = [
  {
    id: 'admin-openapi',
    path: 'openapi.json',
    pattern: /^openapi\.json$/,
    params: [],
    methods: {
      GET: {
        summary: 'This API described as OpenAPI 3.1.',
        audience: 'anyone',
        handler: async (r) => json(r.res, 200, openApiDocument(r.deps.routes ?? [])),
        success: { status: 200, description: 'the OpenAPI document' },
      },
    },
  },
];
