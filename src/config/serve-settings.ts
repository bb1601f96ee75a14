/**
 * Settings of `pier serve` from flags and the reference registry's REGISTRY_* environment variables.
 * (The full config.yml loader arrives with the configuration work; these are the keys it will share.)
 */
import type { LevelWithSilent } from 'pino';

export interface ServeSettings {
  addr: string;
  dataDir: string;
  deleteEnabled: boolean;
  logLevel: LevelWithSilent;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function resolveServeSettings(
  flags: { addr?: string; data?: string; delete?: boolean; logLevel?: string },
  env: NodeJS.ProcessEnv,
): ServeSettings {
  const deleteEnv = env.REGISTRY_STORAGE_DELETE_ENABLED;
  if (deleteEnv !== undefined && !['true', 'false'].includes(deleteEnv.toLowerCase())) {
    throw new Error(`REGISTRY_STORAGE_DELETE_ENABLED must be true or false, not ${JSON.stringify(deleteEnv)}`);
  }
  const logLevel = (flags.logLevel ?? env.REGISTRY_LOG_LEVEL ?? 'info').toLowerCase();
  if (!LEVELS.includes(logLevel)) throw new Error(`log level must be one of ${LEVELS.join(', ')}, not ${JSON.stringify(logLevel)}`);
  return {
    addr: flags.addr ?? env.REGISTRY_HTTP_ADDR ?? ':5000',
    dataDir: flags.data ?? env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data',
    deleteEnabled: flags.delete ?? deleteEnv?.toLowerCase() === 'true',
    logLevel: logLevel as LevelWithSilent,
  };
}
