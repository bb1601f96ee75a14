/**
 * API tokens (Pier-only): long-lived credentials for CI robots, created per htpasswd user with a name, a
 * scope (repository patterns → actions) and an optional expiry.
 *
 * - The secret is `pier_<id>_<secret>`: `id` (16 hex digits) is public — it names the token in listings,
 *   logs and revocation — and `secret` is 32 random bytes (base64url). It is shown once, when created; only
 *   the SHA-256 of the whole token is stored (a hash of 256 random bits needs no salt or slow function). A
 *   presented token is found by its id and its hash compared in constant time.
 * - A token is a password: Basic credentials (any user name) on /v2 and the admin API, or at the token
 *   endpoint (GET with Basic, the OAuth2 password grant). What it may do is, per repository, the
 *   intersection of its scope and of what the access policy allows its owner *at the time of use* — so a
 *   policy change or removing the user takes effect at once — and, at /token, of what was asked.
 * - Revoking deletes the row; the next use fails. Use is recorded (`lastUsedAt`, at most once a minute).
 *
 * Where tokens are kept is the `ApiTokenStore` port (sqlite-api-token-store.ts shares the index's database).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { compilePattern } from '../../registry/policies/patterns.ts';
import { ALL_ACTIONS } from '../scope.ts';
import { validUserName } from '../htpasswd.ts';
import { parseConfigDuration } from '../../config/schema.ts';

/** One line of a token's scope: these repository patterns (`*` one segment, `**` any) get these actions. */
export interface TokenScopeEntry {
  repositories: string[];
  /** `pull`, `push`, `delete`, or `*` (all three). */
  actions: string[];
}

/** What may be shown about a token: everything but its secret and hash. */
export interface ApiTokenInfo {
  id: string;
  user: string;
  name: string;
  scope: TokenScopeEntry[];
  createdAt: Date;
  expiresAt?: Date;
  lastUsedAt?: Date;
}

export interface StoredApiToken extends ApiTokenInfo {
  /** SHA-256 of the whole token, hex. */
  secretHash: string;
}

/** Where API tokens are kept. */
export interface ApiTokenStore {
  /** Stores a new token; false when its user already has a token of that name. */
  insert(token: StoredApiToken): Promise<boolean>;
  get(id: string): Promise<StoredApiToken | undefined>;
  /** Every token, or a user's, ordered by user, then creation time. */
  list(user?: string): Promise<StoredApiToken[]>;
  /** true when it existed. */
  remove(id: string): Promise<boolean>;
  /** Records a use. */
  touch(id: string, at: Date): Promise<void>;
  close(): Promise<void>;
}

export class ApiTokenError extends Error {
  constructor(
    readonly kind: 'invalid' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'ApiTokenError';
  }
}

export type ApiTokenCheck = { ok: true; token: ApiTokenInfo } | { ok: false; reason: string; id?: string };

export interface NewApiToken {
  user: string;
  name: string;
  scope: TokenScopeEntry[];
  expiresAt?: Date;
}

export const TOKEN_PREFIX = 'pier_';
const TOKEN_FORMAT = /^pier_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PATTERN = /^[a-z0-9._\-/*]{1,255}$/;
const ACTIONS = new Set<string>([...ALL_ACTIONS, '*']);
const MAX_ENTRIES = 32;
const MAX_PATTERNS = 32;
/** Last use is written at most this often per token (a Basic client authenticates every request). */
const TOUCH_INTERVAL_MS = 60_000;

/** Whether a password has the shape of an API token (then it is checked as one, never against htpasswd). */
export function looksLikeApiToken(password: string): boolean {
  return TOKEN_FORMAT.test(password);
}

/** The public id of a token-shaped string, or undefined. */
export function apiTokenId(token: string): string | undefined {
  return TOKEN_FORMAT.exec(token)?.[1];
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
const DUMMY_HASH = Buffer.alloc(32);

export class ApiTokens {
  constructor(
    readonly store: ApiTokenStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Creates a token; the secret in the result is the only copy there will ever be. */
  async create(input: NewApiToken): Promise<{ secret: string; token: ApiTokenInfo }> {
    if (!validUserName(input.user)) throw new ApiTokenError('invalid', 'user: not a valid user name');
    if (!TOKEN_NAME.test(input.name)) throw new ApiTokenError('invalid', 'name: 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    const scope = validateScope(input.scope);
    const createdAt = this.now();
    if (input.expiresAt !== undefined && !(input.expiresAt.getTime() > createdAt.getTime())) throw new ApiTokenError('invalid', 'expiry: must be in the future');
    const id = randomBytes(8).toString('hex');
    const secret = `${TOKEN_PREFIX}${id}_${randomBytes(32).toString('base64url')}`;
    const token: ApiTokenInfo = {
      id,
      user: input.user,
      name: input.name,
      scope,
      createdAt,
      ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
    };
    const inserted = await this.store.insert({ ...token, secretHash: sha256(secret).toString('hex') });
    if (!inserted) throw new ApiTokenError('conflict', `user ${input.user} already has a token named ${input.name}`);
    return { secret, token };
  }

  async list(user?: string): Promise<ApiTokenInfo[]> {
    return (await this.store.list(user)).map(publicView);
  }

  async get(id: string): Promise<ApiTokenInfo | undefined> {
    const stored = /^[0-9a-f]{16}$/.test(id) ? await this.store.get(id) : undefined;
    return stored ? publicView(stored) : undefined;
  }

  async revoke(id: string): Promise<boolean> {
    return /^[0-9a-f]{16}$/.test(id) ? this.store.remove(id) : false;
  }

  /** Checks a presented token (the password of Basic credentials); records the use when it is good. */
  async verify(presented: string): Promise<ApiTokenCheck> {
    const match = TOKEN_FORMAT.exec(presented);
    if (!match) return { ok: false, reason: 'not an API token' };
    const id = match[1]!;
    const stored = await this.store.get(id);
    // Compared even when the id is unknown, so the answer takes as long either way.
    const equal = timingSafeEqual(sha256(presented), stored ? Buffer.from(stored.secretHash, 'hex') : DUMMY_HASH);
    if (!stored || !equal) return { ok: false, reason: 'unknown or revoked API token', id };
    return this.usable(stored);
  }

  /**
   * Whether the token behind a registry JWT (issued at /token for an API token) still holds: it exists, it is
   * the subject's, and it has not expired. Revoking a token so also ends the JWTs issued for it.
   */
  async stillValid(id: string, user: string | undefined): Promise<ApiTokenCheck> {
    const stored = /^[0-9a-f]{16}$/.test(id) ? await this.store.get(id) : undefined;
    if (!stored || stored.user !== user) return { ok: false, reason: 'API token revoked', id };
    return this.usable(stored);
  }

  private async usable(stored: StoredApiToken): Promise<ApiTokenCheck> {
    const now = this.now();
    if (stored.expiresAt !== undefined && stored.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'API token expired', id: stored.id };
    if (stored.lastUsedAt === undefined || now.getTime() - stored.lastUsedAt.getTime() >= TOUCH_INTERVAL_MS) {
      await this.store.touch(stored.id, now);
      stored.lastUsedAt = now;
    }
    return { ok: true, token: publicView(stored) };
  }
}

function publicView(stored: StoredApiToken): ApiTokenInfo {
  const { secretHash: _hash, ...info } = stored;
  return info;
}

/** Checks a scope given as data (admin API JSON, CLI): patterns and actions; throws ApiTokenError. */
export function validateScope(value: unknown): TokenScopeEntry[] {
  if (!Array.isArray(value) || value.length === 0) throw new ApiTokenError('invalid', 'scope: a non-empty list of {repositories, actions}');
  if (value.length > MAX_ENTRIES) throw new ApiTokenError('invalid', `scope: at most ${MAX_ENTRIES} entries`);
  return value.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new ApiTokenError('invalid', `scope[${i}]: expected {repositories, actions}`);
    const { repositories, actions, ...rest } = entry as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new ApiTokenError('invalid', `scope[${i}]: unknown key ${extra[0]}`);
    if (!Array.isArray(repositories) || repositories.length === 0 || repositories.length > MAX_PATTERNS) {
      throw new ApiTokenError('invalid', `scope[${i}].repositories: 1 to ${MAX_PATTERNS} repository patterns`);
    }
    for (const p of repositories) {
      if (typeof p !== 'string' || !PATTERN.test(p)) {
        throw new ApiTokenError('invalid', `scope[${i}].repositories: ${JSON.stringify(p).slice(0, 100)} is not a repository pattern (lower-case name, * within a segment, ** across)`);
      }
    }
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => typeof a === 'string' && ACTIONS.has(a))) {
      throw new ApiTokenError('invalid', `scope[${i}].actions: one or more of pull, push, delete, *`);
    }
    return { repositories: [...new Set(repositories as string[])], actions: [...new Set(actions as string[])] };
  });
}

/** `team/**,base/*:pull,push` (the CLI's --scope): patterns before the last colon, actions after it. */
export function parseScopeArgument(text: string): TokenScopeEntry {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new ApiTokenError('invalid', `scope ${JSON.stringify(text)}: expected PATTERN[,PATTERN…]:ACTION[,ACTION…], e.g. "team/**:pull,push"`);
  const repositories = text.slice(0, colon).split(',').map((p) => p.trim()).filter((p) => p !== '');
  const actions = text.slice(colon + 1).split(',').map((a) => a.trim()).filter((a) => a !== '');
  return validateScope([{ repositories, actions }])[0]!;
}

const compiled = new Map<string, RegExp>();

function patternOf(text: string): RegExp {
  let re = compiled.get(text);
  if (!re) {
    if (compiled.size > 10_000) compiled.clear();
    re = compilePattern(text);
    compiled.set(text, re);
  }
  return re;
}

/** The actions a scope gives on a resource. The catalog is open to any token (it is filtered per repository). */
export function scopeActions(scope: readonly TokenScopeEntry[], type: string, name: string): Set<string> {
  if (type === 'registry') return new Set(name === 'catalog' ? ['*'] : []);
  const actions = new Set<string>();
  if (type !== 'repository') return actions;
  for (const entry of scope) {
    if (!entry.repositories.some((p) => patternOf(p).test(name))) continue;
    for (const a of entry.actions) {
      if (a === '*') for (const all of ALL_ACTIONS) actions.add(all);
      else actions.add(a);
    }
  }
  return actions;
}

/** Actions both sets allow (`*` in one means "whatever the other has"). */
export function intersectActions(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  if (a.has('*')) return new Set(b);
  if (b.has('*')) return new Set(a);
  return new Set([...a].filter((x) => b.has(x)));
}

/**
 * An expiry given by a person: a duration from now (`90d`, `12h`, `30m`, Go form `1h30m`), a date
 * (`2026-01-31`, the start of that day in UTC) or a date and time (ISO 8601); `never` for none.
 */
export function parseExpiry(text: string, now: Date = new Date()): Date | undefined {
  const t = text.trim();
  if (t === '' || t === 'never') return undefined;
  const days = /^(\d{1,5})d$/.exec(t);
  if (days) return new Date(now.getTime() + Number(days[1]) * 86_400_000);
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const at = Date.parse(t);
    if (Number.isNaN(at)) throw new ApiTokenError('invalid', `expiry: ${JSON.stringify(t)} is not a date`);
    return new Date(at);
  }
  const ms = /^\d+$/.test(t) ? undefined : parseConfigDuration(t);
  if (ms === undefined || ms <= 0) throw new ApiTokenError('invalid', `expiry: ${JSON.stringify(t.slice(0, 50))} is neither a duration (90d, 12h, 30m) nor a date (2026-01-31)`);
  return new Date(now.getTime() + ms);
}

/** JSON form of a token for the admin API and `pier token list --json`. */
export function tokenJson(token: ApiTokenInfo): Record<string, unknown> {
  return {
    id: token.id,
    user: token.user,
    name: token.name,
    scope: token.scope,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt?.toISOString() ?? null,
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
  };
}
