/**
 * `pier token create|list|revoke`: API tokens for CI robots, kept in the metadata index of the data directory
 * (`--data DIR`, or `storage.filesystem.rootdirectory` of `--config config.yml`), so a running `pier serve`
 * on the same directory sees a change at once.
 *
 * `create` prints the token on standard output — the only time it is shown (Pier keeps only its SHA-256) —
 * and what was created on standard error. With `--config`, the user must exist in `auth.htpasswd.path`.
 */
import { Command } from 'commander';
import { indexSettings } from '../config/serve-settings.ts';
import { openIndexBackend } from '../main/open-index.ts';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError, formatProblem, loadConfigOrThrow } from '../config/load.ts';
import { indexFile } from '../main/open-registry.ts';
import { SqliteIndex } from '../index/sqlite/sqlite-index.ts';
import { parseHtpasswd, readHtpasswdLines } from '../auth/htpasswd.ts';
import { ApiTokenError, ApiTokens, parseExpiry, parseScopeArgument, tokenJson, type ApiTokenInfo, type TokenScopeEntry } from '../auth/api-tokens/api-tokens.ts';
import { SqliteApiTokenStore } from '../auth/api-tokens/sqlite-api-token-store.ts';
import type { PierConfig } from '../config/schema.ts';

export interface DataFlags {
  config?: string;
  data?: string;
}

function fail(message: string, command = 'token'): never {
  process.stderr.write(`pier ${command}: ${message}\n`);
  process.exit(1);
}

/** The configuration (`--config`, REGISTRY_* variables, `--data`) and the data directory it names. */
export function loadDataSettings(flags: DataFlags, command = 'token'): { config: PierConfig; dataDir: string } {
  try {
    const { config } = loadConfigOrThrow({ ...(flags.config !== undefined ? { file: flags.config } : {}), env: process.env, flags: { ...(flags.data ? { data: flags.data } : {}) } });
    return { config, dataDir: config.storage?.filesystem?.rootdirectory ?? './data' };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail(`invalid configuration${flags.config ? ` ${flags.config}` : ''}:\n${error.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, command);
  }
}

/** Opens the token store on the data directory's index (checking the index's schema version first). */
async function withTokens<T>(flags: DataFlags, work: (tokens: ApiTokens, config: PierConfig) => Promise<T>): Promise<T> {
  const { config, dataDir } = loadDataSettings(flags);
  const settings = indexSettings(config);
  if (settings.backend === 'postgres') {
    const backend = await openIndexBackend(settings, dataDir); // migrates a new database, refuses a newer one
    try {
      return await work(new ApiTokens(await backend.openTokenStore()), config);
    } finally {
      await backend.close();
    }
  }
  const file = settings.path ?? indexFile(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  await new SqliteIndex(file).close(); // creates the schema in a new directory, refuses a newer one
  const store = SqliteApiTokenStore.open(file);
  try {
    return await work(new ApiTokens(store), config);
  } finally {
    await store.close();
  }
}

function describeScope(scope: TokenScopeEntry[]): string {
  return scope.map((s) => `${s.repositories.join(',')}:${s.actions.join(',')}`).join(' ');
}

function row(t: ApiTokenInfo): string {
  const date = (d: Date | undefined): string => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');
  return [t.id, t.user, t.name, describeScope(t.scope), date(t.createdAt), date(t.expiresAt), date(t.lastUsedAt)].join('\t');
}

export function tokenCommand(): Command {
  const token = new Command('token').description('manage API tokens (for CI robots: Basic password or /token login with a limited scope)');
  const withData = (c: Command): Command =>
    c
      .option('--config <file>', 'config.yml: the data directory (storage.filesystem.rootdirectory) and, for create, the htpasswd users')
      .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)');

  withData(
    token
      .command('create')
      .description('create a token and print it (shown this once)')
      .requiredOption('--user <user>', 'the htpasswd user the token acts for')
      .requiredOption('--name <name>', 'a name for the token, unique per user (e.g. ci-build)')
      .requiredOption('--scope <pattern:actions...>', 'what it may do: PATTERN[,PATTERN…]:ACTION[,ACTION…], e.g. "team/**:pull,push" (repeatable)')
      .option('--expires <when>', 'expiry: a duration (90d, 12h) or a date (2026-01-31); default never')
      .option('--json', 'print the token and its details as JSON'),
  ).action(async (flags: DataFlags & { user: string; name: string; scope: string[]; expires?: string; json?: boolean }) => {
    let scope: TokenScopeEntry[];
    let expiresAt: Date | undefined;
    try {
      scope = flags.scope.map(parseScopeArgument);
      expiresAt = flags.expires !== undefined ? parseExpiry(flags.expires) : undefined;
    } catch (error) {
      return fail((error as Error).message);
    }
    await withTokens(flags, async (tokens, config) => {
      const htpasswd = config.auth.htpasswd?.path;
      if (flags.config && htpasswd) {
        let users: Map<string, string>;
        try {
          users = parseHtpasswd(readHtpasswdLines(htpasswd).join('\n')).users;
        } catch (error) {
          return fail(`cannot read ${htpasswd}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
        }
        if (!users.has(flags.user)) fail(`no user ${flags.user} in ${htpasswd} (add it with pier user add)`);
      } else if (!flags.config) {
        process.stderr.write('pier token: note: without --config the user is not checked against the htpasswd file; a token of an unknown user is refused when used\n');
      }
      try {
        const created = await tokens.create({ user: flags.user, name: flags.name, scope, ...(expiresAt ? { expiresAt } : {}) });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ...tokenJson(created.token), token: created.secret }, null, 2)}\n`);
        } else {
          process.stdout.write(`${created.secret}\n`);
          process.stderr.write(
            `created API token ${created.token.id} "${created.token.name}" for ${created.token.user} (${describeScope(created.token.scope)}${created.token.expiresAt ? `, expires ${created.token.expiresAt.toISOString()}` : ''}).\nStore it now: it is not shown again. Use it as the password, e.g. skopeo --creds ${created.token.user}:TOKEN\n`,
          );
        }
      } catch (error) {
        if (error instanceof ApiTokenError) fail(error.message);
        throw error;
      }
    });
  });

  withData(token.command('list').description('list tokens (never their secrets)').option('--user <user>', "only this user's tokens").option('--json', 'print JSON')).action(
    async (flags: DataFlags & { user?: string; json?: boolean }) => {
      await withTokens(flags, async (tokens) => {
        const list = await tokens.list(flags.user);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ tokens: list.map(tokenJson) }, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${['ID', 'USER', 'NAME', 'SCOPE', 'CREATED', 'EXPIRES', 'LAST USED'].join('\t')}\n`);
        for (const t of list) process.stdout.write(`${row(t)}\n`);
      });
    },
  );

  withData(token.command('revoke').description('revoke a token: it stops working at once').argument('<id>', 'the token id (first column of pier token list)')).action(
    async (id: string, flags: DataFlags) => {
      await withTokens(flags, async (tokens) => {
        const known = await tokens.get(id);
        if (!known || !(await tokens.revoke(id))) fail(`no API token ${id}`);
        process.stdout.write(`revoked API token ${known.id} "${known.name}" of ${known.user}\n`);
      });
    },
  );
  return token;
}
