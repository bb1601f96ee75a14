/**
 * `pier reindex`: rebuild the metadata index from storage (e.g. a data directory written by registry:2).
 * With `--config`, the index named there (index.backend: sqlite or postgres); otherwise the SQLite index of
 * the data directory. Stop the registry (or make it read-only) first: the index is emptied, then refilled.
 */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { loadConfigOrThrow } from '../config/load.ts';
import { localDataDir, storageFromConfig, type StorageSelection } from '../config/storage-settings.ts';
import { openStorageDriver } from '../main/open-storage.ts';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { openIndexBackend } from '../main/open-index.ts';
import { indexSettings } from '../config/serve-settings.ts';

export function reindexCommand(): Command {
  return new Command('reindex')
    .description('rebuild the metadata index from the data directory')
    .option('--config <file>', 'config.yml: its storage (filesystem, s3, azure) and index sections name what to rebuild')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .action(async (flags: { data?: string; config?: string }) => {
      const logger = createLogger('info');
      const config = flags.config ? loadConfigOrThrow({ file: flags.config, env: process.env, flags: flags.data ? { data: flags.data } : {} }).config : undefined;
      const selection: StorageSelection = config
        ? storageFromConfig(config)
        : { driver: 'filesystem', rootDirectory: flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data' };
      const dataDir = localDataDir(selection);
      const opened = await openStorageDriver(selection);
      const backend = await openIndexBackend(config ? indexSettings(config) : undefined, dataDir);
      try {
        const started = Date.now();
        const report = await rebuildIndex(new DriverRegistryStorage(opened.driver), backend.index, logger);
        await backend.markBuilt();
        for (const skip of report.skipped) logger.warn(skip, 'skipped manifest');
        logger.info({ ...report, skipped: report.skipped.length, seconds: (Date.now() - started) / 1000, index: backend.description }, 'reindex complete');
      } finally {
        await backend.close();
        opened.close();
      }
    });
}
