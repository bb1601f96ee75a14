/**
 * Opens the event log of a data directory for `pier webhook` and `pier deliveries` (the index file of
 * `--data DIR` or of `--config config.yml`'s storage), so a running `pier serve` on the same directory sees
 * a change within a second.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { indexFile } from '../main/open-registry.ts';
import { SqliteIndex } from '../index/sqlite/sqlite-index.ts';
import type { PierConfig } from '../config/schema.ts';
import { loadDataSettings, type DataFlags } from './token.ts';

export function cliFail(command: string, message: string): never {
  process.stderr.write(`pier ${command}: ${message}\n`);
  process.exit(1);
}

export async function withEventLog<T>(flags: DataFlags, command: string, work: (index: SqliteIndex, config: PierConfig) => Promise<T>): Promise<T> {
  const { config, dataDir } = loadDataSettings(flags, command);
  const file = indexFile(dataDir);
  mkdirSync(dirname(file), { recursive: true });
  const index = new SqliteIndex(file);
  try {
    return await work(index, config);
  } finally {
    await index.close();
  }
}

export const withDataFlags = <T extends { option(flags: string, description: string): T }>(c: T): T =>
  c
    .option('--config <file>', 'config.yml: the data directory (storage.filesystem.rootdirectory) and notifications.webhooks')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)');
