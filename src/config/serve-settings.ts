/**
 * What `pier serve` runs with, derived from the loaded configuration (load.ts: config.yml → REGISTRY_*
 * environment → flags). Plain values only: main/ and cli/ turn them into servers and files.
 */
import { availableParallelism } from 'node:os';
import type { LevelWithSilent } from 'pino';
import { loadConfigOrThrow, type ConfigNotice, type ServeFlags } from './load.ts';
import { parseListenAddress, type ListenAddress } from './listen-address.ts';
import type { PierConfig } from './schema.ts';
import type { ImmutabilityRule } from '../registry/policies/immutability.ts';
import type { QuotaRule } from '../registry/policies/quotas.ts';
import type { RetentionRule } from '../registry/gc/apply-retention.ts';
import type { IndexSettings } from '../index/index-settings.ts';

export interface TlsSettings {
  certificateFile: string;
  keyFile: string;
  /** CA bundles; when any, clients must present a certificate they signed (mTLS). */
  clientCAFiles: string[];
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Offer HTTP/2 (ALPN h2) next to HTTP/1.1. */
  http2: boolean;
}

export interface ServeSettings {
  config: PierConfig;
  notices: ConfigNotice[];
  addr: string;
  listen: ListenAddress;
  dataDir: string;
  deleteEnabled: boolean;
  readOnly: boolean;
  logLevel: LevelWithSilent;
  logFields: Record<string, unknown>;
  drainTimeoutMs: number;
  shutdownDelayMs: number;
  /** Worker processes sharing the listener; 1 is a single process. */
  workers: number;
  /** http.accelredirect.prefix when enabled: blob GETs answer with X-Accel-Redirect. */
  accelRedirect?: string;
  tls?: TlsSettings;
  /** http.headers: added to every response. */
  headers: Record<string, string[]>;
  /** storage.maintenance.uploadpurging, when it runs (enabled, not a dry run, not read-only). */
  uploadPurging?: { intervalMs: number; maxAgeMs: number };
  immutableTags: ImmutabilityRule[];
  quotas: QuotaRule[];
  retention: RetentionRule[];
  /** The metadata index (index section). */
  index: IndexSettings;
  /** lifecycle.gc when enabled (and not read-only). */
  gc?: { intervalMs: number; gracePeriodMs: number; deleteUntagged: boolean; keepReferrers: boolean };
}

/** The lifecycle section as domain rules (shared by `pier serve` and `pier gc --config`). */
export function lifecycleRules(config: PierConfig): { immutableTags: ImmutabilityRule[]; quotas: QuotaRule[]; retention: RetentionRule[] } {
  const { lifecycle } = config;
  return {
    immutableTags: lifecycle.immutabletags.map((r) => ({ repository: r.repository, tag: r.tag })),
    quotas: lifecycle.quotas.map((q): QuotaRule => (q.repository !== undefined ? { repository: q.repository, limitBytes: q.limit } : { namespace: q.namespace!, limitBytes: q.limit })),
    retention: lifecycle.retention.map((r) => ({
      repository: r.repository,
      keepTags: r.keeptags,
      ...(r.keeplast !== undefined ? { keepLast: r.keeplast } : {}),
      ...(r.maxage !== undefined ? { maxAgeMs: r.maxage } : {}),
    })),
  };
}

/** The index section as plain settings (shared by `pier serve` and the other commands). */
export function indexSettings(config: PierConfig): IndexSettings {
  const { backend, sqlite, postgres: pg } = config.index;
  if (backend === 'sqlite') return { backend, ...(sqlite.path !== undefined ? { path: sqlite.path } : {}) };
  return {
    backend,
    postgres: {
      ...(pg.url !== undefined ? { url: pg.url } : {}),
      ...(pg.host !== undefined ? { host: pg.host } : {}),
      ...(pg.port !== undefined ? { port: pg.port } : {}),
      ...(pg.database !== undefined ? { database: pg.database } : {}),
      ...(pg.user !== undefined ? { user: pg.user } : {}),
      ...(pg.password !== undefined ? { password: pg.password } : {}),
      ...(pg.passwordfile !== undefined ? { passwordFile: pg.passwordfile } : {}),
      ...(pg.cafile !== undefined ? { caFile: pg.cafile } : {}),
      sslMode: pg.sslmode,
      poolSize: pg.poolsize,
      connectTimeoutMs: pg.connecttimeout,
    },
  };
}

/** Loads the configuration (throws a ConfigError listing every problem) and derives the settings. */
export function resolveServeSettings(flags: ServeFlags, env: NodeJS.ProcessEnv, configFile?: string): ServeSettings {
  const { config, notices } = loadConfigOrThrow({ ...(configFile !== undefined ? { file: configFile } : {}), env, flags });
  return settingsFromConfig(config, notices);
}

export function settingsFromConfig(config: PierConfig, notices: ConfigNotice[] = []): ServeSettings {
  const tls = config.http.tls;
  const readOnly = config.storage?.maintenance.readonly.enabled ?? false;
  const purging = config.storage?.maintenance.uploadpurging;
  return {
    config,
    notices,
    addr: config.http.addr,
    listen: parseListenAddress(config.http.addr),
    dataDir: config.storage?.filesystem?.rootdirectory ?? './data',
    deleteEnabled: config.storage?.delete.enabled ?? false,
    readOnly,
    logLevel: config.log.level ?? config.loglevel ?? 'info',
    logFields: config.log.fields,
    drainTimeoutMs: config.http.draintimeout,
    shutdownDelayMs: config.http.shutdowndelay,
    workers: config.http.workers ?? availableParallelism(),
    ...(config.http.accelredirect.enabled ? { accelRedirect: config.http.accelredirect.prefix } : {}),
    ...(tls.certificate !== undefined && tls.key !== undefined
      ? {
          tls: {
            certificateFile: tls.certificate,
            keyFile: tls.key,
            clientCAFiles: tls.clientcas,
            minVersion: tls.minimumtls === 'tls1.3' ? 'TLSv1.3' : 'TLSv1.2',
            http2: !config.http.http2.disabled,
          },
        }
      : {}),
    headers: config.http.headers,
    ...(purging?.enabled && !purging.dryrun && !readOnly ? { uploadPurging: { intervalMs: purging.interval, maxAgeMs: purging.age } } : {}),
    ...lifecycleRules(config),
    index: indexSettings(config),
    ...(config.lifecycle.gc.enabled && !readOnly
      ? {
          gc: {
            intervalMs: config.lifecycle.gc.interval,
            gracePeriodMs: config.lifecycle.gc.grace,
            deleteUntagged: config.lifecycle.gc.deleteuntagged,
            keepReferrers: config.lifecycle.gc.keepreferrers,
          },
        }
      : {}),
  };
}
