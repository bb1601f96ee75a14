/**
 * Browser sessions for the web UI (Pier-only). Signing in with an htpasswd password or an API token gives a
 * session: a random secret sent back only as an HttpOnly, SameSite=Strict cookie (Secure over TLS and on
 * loopback hosts), and a CSRF token the page must echo in `X-CSRF-Token` on every change. The CSRF token is
 * an HMAC of the cookie's secret, so it is stable for the session (every tab gets the same one), needs no
 * storage, and cannot be computed by a page that cannot read the cookie. Only the SHA-256 of the secret is
 * stored, in the index's database, so a session survives a restart and is seen by every process on the
 * data directory. A session signed in with an API token stays bound to it: revoking the token ends it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'pier_session';
export const CSRF_HEADER = 'x-csrf-token';
/** A session ends this long after sign-in, whatever happens. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;

export interface BrowserSession {
  /** SHA-256 of the secret, hex: the session's key. */
  id: string;
  user: string;
  /** The API token signed in with, if any. */
  apiTokenId?: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface SessionStore {
  insert(session: BrowserSession): Promise<void>;
  get(id: string): Promise<BrowserSession | undefined>;
  remove(id: string): Promise<void>;
  /** Drops expired sessions. */
  purge(now: Date): Promise<void>;
  close(): Promise<void>;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const SECRET = /^[A-Za-z0-9_-]{43}$/;

export class BrowserSessions {
  constructor(
    private readonly store: SessionStore,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Starts a session; the secret (for the cookie) and CSRF token are returned once. */
  async start(user: string, apiTokenId?: string): Promise<{ secret: string; csrfToken: string; session: BrowserSession }> {
    const secret = randomBytes(32).toString('base64url');
    const csrfToken = csrfTokenOf(secret);
    const createdAt = this.now();
    const session: BrowserSession = {
      id: sha256(secret),
      user,
      ...(apiTokenId ? { apiTokenId } : {}),
      createdAt,
      expiresAt: new Date(createdAt.getTime() + SESSION_LIFETIME_MS),
    };
    await this.store.purge(createdAt);
    await this.store.insert(session);
    return { secret, csrfToken, session };
  }

  /** The live session a cookie secret names, or undefined. */
  async find(secret: string | undefined): Promise<BrowserSession | undefined> {
    if (secret === undefined || !SECRET.test(secret)) return undefined;
    const session = await this.store.get(sha256(secret));
    if (!session || session.expiresAt.getTime() <= this.now().getTime()) return undefined;
    return session;
  }

  /** Whether `presented` is the CSRF token of the session with this secret (constant-time). */
  csrfMatches(secret: string, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented.length === 0 || presented.length > 200) return false;
    const a = createHash('sha256').update(presented).digest();
    const b = createHash('sha256').update(csrfTokenOf(secret)).digest();
    return timingSafeEqual(a, b);
  }

  async end(session: BrowserSession): Promise<void> {
    await this.store.remove(session.id);
  }
}

/** The session's CSRF token: derived from its secret, never stored. */
export function csrfTokenOf(secret: string): string {
  return createHmac('sha256', secret).update('pier-csrf-token').digest('base64url');
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie header for a session (or, with `secret` undefined, one that clears it). */
export function sessionCookie(secret: string | undefined, options: { secure: boolean; path?: string }): string {
  const parts = [`${SESSION_COOKIE}=${secret ?? ''}`, `Path=${options.path ?? '/'}`, 'HttpOnly', 'SameSite=Strict'];
  if (options.secure) parts.push('Secure');
  parts.push(secret === undefined ? 'Max-Age=0' : `Max-Age=${Math.floor(SESSION_LIFETIME_MS / 1000)}`);
  return parts.join('; ');
}
