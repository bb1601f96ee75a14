/**
 * htpasswd files, as the reference registry reads them: `user:hash` lines, bcrypt only (`$2y$`, `$2a$`,
 * `$2b$`, what `htpasswd -B` writes). Entries with other schemes (`{SHA}`, `$apr1$`, crypt, plain text) are
 * ignored with a log line naming the user and the scheme, never the hash.
 *
 * `Htpasswd` verifies passwords and notices when the file changes (it looks at most once per
 * `checkIntervalMs`, on the next login), so `pier user add` or an edited file takes effect without a restart;
 * a file that has become unreadable keeps the last good user list. A successful check is remembered for a
 * while under an HMAC of user, password and hash (bcrypt is deliberately slow and clients send Basic
 * credentials on every request); the memory is dropped whenever the file changes. Unknown users cost a bcrypt
 * comparison too, so timing does not reveal which user names exist.
 *
 * The write helpers (used by `pier user`) replace the file atomically with mode 0600.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync, chmodSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { Logger } from '../observability/logger.ts';

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export interface HtpasswdEntry {
  user: string;
  hash: string;
}

export interface ParsedHtpasswd {
  users: Map<string, string>;
  /** Entries that cannot be used, with why (no secrets). */
  rejected: Array<{ user: string; line: number; reason: string }>;
}

export function parseHtpasswd(text: string): ParsedHtpasswd {
  const users = new Map<string, string>();
  const rejected: ParsedHtpasswd['rejected'] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      rejected.push({ user: '', line: i + 1, reason: 'not a user:hash line' });
      return;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT.test(hash)) {
      rejected.push({ user, line: i + 1, reason: `unsupported hash scheme ${schemeOf(hash)}: only bcrypt ($2y$, $2a$, $2b$) is accepted` });
      return;
    }
    users.set(user, hash);
  });
  return { users, rejected };
}

function schemeOf(hash: string): string {
  if (hash.startsWith('{SHA}')) return '{SHA}';
  const m = /^\$([0-9a-z]+)\$/.exec(hash);
  if (m) return `$${m[1]}$`;
  return hash.length === 13 ? 'crypt' : 'plain text or unknown';
}

export interface HtpasswdOptions {
  /** How often, at most, the file is checked for changes (default 1 s). */
  checkIntervalMs?: number;
  /** How long a successful check is remembered (default 10 minutes). */
  rememberMs?: number;
}

export class Htpasswd {
  private users = new Map<string, string>();
  private fingerprint = '';
  private lastCheck = 0;
  private readonly remembered = new Map<string, number>();
  private readonly memoryKey = randomBytes(32);
  private dummyHash: string | undefined;
  private readonly checkIntervalMs: number;
  private readonly rememberMs: number;

  private constructor(readonly path: string, private readonly logger: Logger, options: HtpasswdOptions) {
    this.checkIntervalMs = options.checkIntervalMs ?? 1000;
    this.rememberMs = options.rememberMs ?? 10 * 60_000;
  }

  /** Loads the file; throws when it cannot be read (a missing file is a configuration error at start). */
  static open(path: string, logger: Logger, options: HtpasswdOptions = {}): Htpasswd {
    const file = new Htpasswd(path, logger, options);
    const stat = statSync(path);
    file.load(readFileSync(path, 'utf8'), fingerprintOf(stat));
    return file;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Every user name in the file, sorted. */
  names(): string[] {
    this.refresh();
    return [...this.users.keys()].sort();
  }

  has(user: string): boolean {
    this.refresh();
    return this.users.has(user);
  }

  /** The stored hash's identity, to tie refresh tokens to the current password (changes with it). */
  passwordStamp(user: string): string | undefined {
    this.refresh();
    const hash = this.users.get(user);
    return hash === undefined ? undefined : createHmac('sha256', 'pier-password-stamp').update(hash).digest('base64url').slice(0, 16);
  }

  async verify(user: string, password: string): Promise<boolean> {
    this.refresh();
    const hash = this.users.get(user);
    if (hash === undefined) {
      // Same work as for a real user, so the answer's timing does not tell whether the user exists.
      this.dummyHash ??= bcrypt.hashSync(randomBytes(12).toString('base64'), this.typicalCost());
      await bcrypt.compare(password, this.dummyHash);
      return false;
    }
    const key = createHmac('sha256', this.memoryKey).update(`${user}\u0000${password}\u0000${hash}`).digest('base64');
    const until = this.remembered.get(key);
    if (until !== undefined && until > Date.now()) return true;
    const ok = await bcrypt.compare(password, hash);
    if (ok) {
      if (this.remembered.size >= 10_000) this.remembered.clear();
      this.remembered.set(key, Date.now() + this.rememberMs);
    }
    return ok;
  }

  /** Re-reads the file if it changed (at most once per check interval). */
  refresh(force = false): void {
    const now = Date.now();
    if (!force && now - this.lastCheck < this.checkIntervalMs) return;
    this.lastCheck = now;
    try {
      const stat = statSync(this.path);
      const fingerprint = fingerprintOf(stat);
      if (fingerprint === this.fingerprint) return;
      this.load(readFileSync(this.path, 'utf8'), fingerprint);
      this.logger.info({ path: this.path, users: this.users.size }, 'htpasswd file reloaded');
    } catch (error) {
      this.logger.error({ path: this.path, code: (error as NodeJS.ErrnoException).code }, 'htpasswd file unreadable: keeping the users loaded before');
    }
  }

  private load(text: string, fingerprint: string): void {
    const parsed = parseHtpasswd(text);
    for (const r of parsed.rejected) {
      this.logger.warn({ path: this.path, line: r.line, user: r.user, reason: r.reason }, 'htpasswd entry ignored');
    }
    this.users = parsed.users;
    this.fingerprint = fingerprint;
    this.remembered.clear();
    this.dummyHash = undefined;
  }

  private typicalCost(): number {
    const first = this.users.values().next().value;
    const cost = first ? Number(BCRYPT.exec(first)?.[1] ?? 10) : 10;
    return Math.min(Math.max(cost, 4), 14);
  }
}

function fingerprintOf(stat: { ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  return `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

// ---- editing (pier user) ----

export const DEFAULT_BCRYPT_COST = 10;

export function validUserName(user: string): boolean {
  return /^[^\s:#][^\s:]{0,127}$/.test(user);
}

/** A bcrypt hash in the `$2y$` form `htpasswd -B` writes. */
export async function hashPassword(password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  const hash = await bcrypt.hash(password, cost);
  return `$2y$${hash.slice(4)}`;
}

/** The file's lines (kept as they are, comments included), or none when it does not exist. */
export function readHtpasswdLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export function userOfLine(line: string): string | undefined {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return undefined;
  const colon = t.indexOf(':');
  return colon > 0 ? t.slice(0, colon) : undefined;
}

/** Replaces the file atomically (temporary file, fsync, rename), mode 0600. */
export function writeHtpasswdLines(path: string, lines: string[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, lines.length > 0 ? `${lines.join('\n')}\n` : '');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
