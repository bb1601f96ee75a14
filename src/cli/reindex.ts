/** `pier reindex`: rebuild the metadata index from storage (e.g. a data directory written by registry:2). */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { loadConfigOrThrow } from '../config/load.ts';
import { localDataDir, storageFromConfig, type StorageSelection } from '../config/storage-settings.ts';
import { openStorageDriver } from '../main/open-storage.ts';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import { SqliteIndex } from '../index/sqlite/sqlite-index.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { indexFile } from '../main/open-registry.ts';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export function reindexCommand(): Command {
  return new Command('reindex')
    .description('rebuild the metadata index from the data directory')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--config <file>', 'config.yml: its storage section (filesystem, s3, azure) names what to index')
    .action(async (flags: { data?: string; config?: string }) => {
      const logger = createLogger('info');
      const selection: StorageSelection = flags.config
        ? storageFromConfig(loadConfigOrThrow({ file: flags.config, env: process.env, flags: flags.data ? { data: flags.data } : {} }).config)
        : { driver: 'filesystem', rootDirectory: flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data' };
      const dataDir = localDataDir(selection);
      mkdirSync(dirname(indexFile(dataDir)), { recursive: true });
      const opened = await openStorageDriver(selection);
      const index = new SqliteIndex(indexFile(dataDir));
      const started = Date.now();
      const report = await rebuildIndex(new DriverRegistryStorage(opened.driver), index, logger);
      index.markBuilt();
      await index.close();
      opened.close();
      for (const skip of report.skipped) logger.warn(skip, 'skipped manifest');
      logger.info({ ...report, skipped: report.skipped.length, seconds: (Date.now() - started) / 1000 }, 'reindex complete');
    });
}
