/**
 * The composition root: the only place that knows every concrete class. Builds the storage driver, the
 * metadata index and the registry from plain options, and rebuilds a brand-new index from storage so an
 * existing data directory (Pier's or the reference registry's) is served at once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import { SqliteIndex } from '../index/sqlite/sqlite-index.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { Registry } from '../registry/registry.ts';
import { DEFAULT_REGISTRY_OPTIONS, type RegistryOptions } from '../registry/context.ts';
import type { Logger } from '../observability/logger.ts';

export interface OpenOptions {
  dataDir: string;
  logger: Logger;
  registry?: Partial<RegistryOptions>;
}

export interface OpenRegistry {
  registry: Registry;
  storage: DriverRegistryStorage;
  index: SqliteIndex;
  close(): Promise<void>;
}

export const indexFile = (dataDir: string): string => join(dataDir, 'pier', 'index.db');

export async function openRegistry({ dataDir, logger, registry: options }: OpenOptions): Promise<OpenRegistry> {
  mkdirSync(join(dataDir, 'pier'), { recursive: true });
  const storage = new DriverRegistryStorage(new FilesystemDriver(dataDir));
  const index = new SqliteIndex(indexFile(dataDir));
  if (!index.isBuilt()) {
    const report = await rebuildIndex(storage, index, logger);
    index.markBuilt();
    if (report.repositories > 0) logger.info({ ...report, skipped: report.skipped.length }, 'built the index from existing storage');
  }
  const registry = new Registry({
    storage,
    index,
    clock: { now: () => new Date() },
    options: { ...DEFAULT_REGISTRY_OPTIONS, ...options },
  });
  return { registry, storage, index, close: () => index.close() };
}
