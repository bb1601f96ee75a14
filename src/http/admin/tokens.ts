/**
 * `tokens`, `tokens/{id}`: API tokens. Users manage their own (with their password or a browser session,
 * never with an API token, which may only see and revoke itself); admins manage everyone's.
 */
import { ApiTokenError, parseExpiry, tokenJson, type ApiTokenInfo } from '../../auth/api-tokens/api-tokens.ts';
import { RegistryError } from '../../registry/errors.ts';
import { AdminError, json, noContent, readJson, type AdminCaller, type AdminDeps, type AdminRequest, type AdminRoute } from './admin-context.ts';

const TOKEN_ID = /^[0-9a-f]{16}$/;
export const TOKENS_PATH = 'tokens';

function noApiToken(caller: AdminCaller): void {
  if (caller.apiToken) throw new RegistryError('DENIED', 'an API token cannot list or create API tokens: authenticate with your password');
}

/** A token the caller may see: its own (an API token only itself), or any for an admin. Others are "not found". */
async function visibleToken(deps: AdminDeps, caller: AdminCaller, id: string): Promise<ApiTokenInfo> {
  const token = TOKEN_ID.test(id) ? await deps.apiTokens.get(id) : undefined;
  const visible = token !== undefined && (caller.admin || (caller.apiToken ? caller.apiToken.id === token.id : token.user === caller.user));
  if (!visible) throw new AdminError(404, 'NOT_FOUND', 'no such API token');
  return token!;
}

async function listTokens({ caller, deps, res, query }: AdminRequest): Promise<void> {
  noApiToken(caller);
  const user = query.get('user') || undefined;
  if (!caller.admin && user !== undefined && user !== caller.user) throw new RegistryError('DENIED', "only admins may see other users' API tokens");
  const tokens = await deps.apiTokens.list(caller.admin ? user : caller.user);
  json(res, 200, { tokens: tokens.map(tokenJson) });
}

async function createToken({ caller, deps, req, res }: AdminRequest): Promise<void> {
  noApiToken(caller);
  const { access, apiTokens, logger } = deps;
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
    json(res, 201, { ...tokenJson(created.token), token: created.secret }, { Location: `/pier/api/v1/tokens/${created.token.id}` });
  } catch (error) {
    if (error instanceof ApiTokenError) throw new AdminError(error.kind === 'conflict' ? 409 : 400, error.kind === 'conflict' ? 'CONFLICT' : 'INVALID_REQUEST', error.message);
    throw error;
  }
}

const tokenSchema = { type: 'object', required: ['name', 'scope'], properties: { name: { type: 'string' }, scope: { type: 'array', items: { type: 'object' } }, user: { type: 'string' }, expiresAt: { type: 'string' }, expiresIn: { type: 'string' } } };

export const routes: AdminRoute[] = [
  {
    id: 'admin-tokens',
    path: TOKENS_PATH,
    pattern: /^tokens$/,
    params: [],
    methods: {
      GET: {
        summary: "List API tokens (your own; an admin's: everyone's or one user's). Secrets are never shown.",
        audience: 'user',
        handler: listTokens,
        query: [{ name: 'user', description: 'only this user’s tokens (admins)', schema: { type: 'string' } }],
        success: { status: 200, description: '{tokens: [...]}' },
      },
      POST: {
        summary: 'Create an API token; the secret is in the response, once.',
        audience: 'user',
        handler: createToken,
        body: tokenSchema,
        success: { status: 201, description: 'the token, with its secret in `token`' },
      },
    },
  },
  {
    id: 'admin-token',
    path: 'tokens/{id}',
    pattern: /^tokens\/([^/]+)$/,
    params: ['id'],
    methods: {
      GET: {
        summary: 'Show an API token.',
        audience: 'user',
        handler: async (r) => json(r.res, 200, tokenJson(await visibleToken(r.deps, r.caller, r.params.id!))),
        success: { status: 200, description: 'the token (without its secret)' },
      },
      DELETE: {
        summary: 'Revoke an API token.',
        audience: 'user',
        handler: async (r) => {
          const token = await visibleToken(r.deps, r.caller, r.params.id!);
          await r.deps.apiTokens.revoke(token.id);
          r.deps.logger.info({ tokenId: token.id, user: token.user, name: token.name, by: r.caller.user ?? '(local)' }, 'API token revoked');
          noContent(r.res);
        },
        success: { status: 204, description: 'revoked' },
      },
    },
  },
];
