/**
 * Connecting to PostgreSQL: the settings Pier takes (index.postgres in config.yml), and a pool built from
 * them. `pg` is imported here only, dynamically, so a registry on SQLite never loads it.
 *
 * The password comes from the settings (REGISTRY_INDEX_POSTGRES_PASSWORD), from a file (a Docker or
 * Kubernetes secret), from the URL, or from libpq's PGPASSWORD; it is never logged: `describePostgres`
 * gives what may be.
 */
import { readFileSync } from 'node:fs';
import type { ClientConfig, Pool } from 'pg';

export interface PostgresSettings {
  /** postgres://user@host:port/database?sslmode=… (a password in it works, but prefer passwordFile). */
  url?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** A file holding the password (trailing newline ignored). */
  passwordFile?: string;
  /** disable (default), require (encrypted, any certificate), verify-full (encrypted, certificate checked against the system CAs or caFile). */
  sslMode?: 'disable' | 'require' | 'verify-full';
  caFile?: string;
  /** Connections per Pier process. */
  poolSize: number;
  connectTimeoutMs: number;
}

type Pg = typeof import('pg');
let loaded: Promise<Pg> | undefined;

/** node-postgres, loaded on first use. */
export function loadPg(): Promise<Pg> {
  loaded ??= import('pg').then((m) => ((m as unknown as { default?: Pg }).default ?? m) as Pg);
  return loaded;
}

const INT8_OID = 20;

/** The client configuration for these settings (the pool's, and the dedicated sessions'). */
export async function clientConfig(settings: PostgresSettings, applicationName = 'pier'): Promise<ClientConfig> {
  const pg = await loadPg();
  const password = settings.password ?? (settings.passwordFile !== undefined ? readPasswordFile(settings.passwordFile) : undefined);
  const ssl =
    settings.sslMode === undefined || settings.sslMode === 'disable'
      ? undefined
      : {
          rejectUnauthorized: settings.sslMode === 'verify-full',
          ...(settings.caFile !== undefined ? { ca: readFileSync(settings.caFile) } : {}),
        };
  return {
    ...(settings.url !== undefined ? { connectionString: settings.url } : {}),
    ...(settings.host !== undefined ? { host: settings.host } : {}),
    ...(settings.port !== undefined ? { port: settings.port } : {}),
    ...(settings.database !== undefined ? { database: settings.database } : {}),
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(ssl ? { ssl } : {}),
    application_name: applicationName,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    // A replica that vanishes without closing its connections (power loss, partition) is noticed by TCP
    // keepalive, which ends its session and so frees its session locks.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // A process that freezes inside a transaction must not hold its row and digest locks for ever.
    idle_in_transaction_session_timeout: 60_000,
    types: {
      // bigint columns (sizes) as numbers: blob sizes stay far below 2^53.
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (value: string) => Number(value) : (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format)) as never,
    },
  };
}

export async function createPool(settings: PostgresSettings, applicationName = 'pier'): Promise<Pool> {
  const pg = await loadPg();
  const pool = new pg.Pool({ ...(await clientConfig(settings, applicationName)), max: settings.poolSize, idleTimeoutMillis: 30_000 });
  // An idle connection that breaks (server restart) emits 'error' on the pool; the pool drops it and opens
  // a new one on demand. Without a listener the process would crash.
  pool.on('error', () => undefined);
  return pool;
}

function readPasswordFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new Error(`cannot read index.postgres.passwordfile ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** What may be logged about the connection: never the password. */
export function describePostgres(settings: PostgresSettings): Record<string, unknown> {
  let fromUrl: Record<string, unknown> = {};
  if (settings.url !== undefined) {
    try {
      const u = new URL(settings.url);
      fromUrl = { host: u.hostname, port: u.port || undefined, database: u.pathname.slice(1) || undefined, user: u.username || undefined };
    } catch {
      fromUrl = { url: 'unparsable' };
    }
  }
  return {
    ...fromUrl,
    ...(settings.host !== undefined ? { host: settings.host } : {}),
    ...(settings.port !== undefined ? { port: settings.port } : {}),
    ...(settings.database !== undefined ? { database: settings.database } : {}),
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    sslMode: settings.sslMode ?? 'disable',
    poolSize: settings.poolSize,
  };
}
