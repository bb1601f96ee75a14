/**
 * Opens the event log of the configured index for `pier webhook` and `pier deliveries`: SQLite in the data
 * directory (`--data DIR`, or `--config config.yml`'s storage), or PostgreSQL when `index.backend` says so,
 * so a running `pier serve` on the same index sees a change within a second.
 */
import type { PierConfig } from '../config/schema.ts';
import { indexSettings } from '../config/serve-settings.ts';
import { openIndexBackend } from '../main/open-index.ts';
import type { EventLog } from '../events/event-log.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import { loadDataSettings, type DataFlags } from './token.ts';

export function cliFail(command: string, message: string): never {
  process.stderr.write(`pier ${command}: ${message}\n`);
  process.exit(1);
}

export async function withEventLog<T>(
  flags: DataFlags,
  command: string,
  work: (store: { index: MetadataIndex; eventLog: EventLog }, config: PierConfig) => Promise<T>,
): Promise<T> {
  const { config, dataDir } = loadDataSettings(flags, command);
  const backend = await openIndexBackend(indexSettings(config), dataDir); // creates or migrates the schema, refuses a newer one
  try {
    return await work({ index: backend.index, eventLog: backend.eventLog }, config);
  } finally {
    await backend.close();
  }
}

export const withDataFlags = <T extends { option(flags: string, description: string): T }>(c: T): T =>
  c
    .option('--config <file>', 'config.yml: the data directory or index, and notifications.webhooks')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)');
