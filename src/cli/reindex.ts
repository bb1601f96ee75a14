/**
 * `pier reindex`: rebuild the metadata index from storage (e.g. a data directory written by registry:2).
 * With `--config`, the index named there (index.backend: sqlite or postgres); otherwise the SQLite index of
 * the data directory. Stop the registry (or make it read-only) first: the index is emptied, then refilled.
 */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { openIndexBackend } from '../main/open-index.ts';
import { indexSettings } from '../config/serve-settings.ts';
import { loadDataSettings } from './token.ts';

export function reindexCommand(): Command {
  return new Command('reindex')
    .description('rebuild the metadata index from the data directory')
    .option('--config <file>', 'config.yml: the data directory and the index (index section)')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .action(async (flags: { config?: string; data?: string }) => {
      const logger = createLogger('info');
      let dataDir = flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data';
      let settings;
      if (flags.config !== undefined) {
        const loaded = loadDataSettings(flags, 'reindex');
        dataDir = loaded.dataDir;
        settings = indexSettings(loaded.config);
      }
      const backend = await openIndexBackend(settings, dataDir);
      try {
        const started = Date.now();
        const report = await rebuildIndex(new DriverRegistryStorage(new FilesystemDriver(dataDir)), backend.index, logger);
        await backend.markBuilt();
        for (const skip of report.skipped) logger.warn(skip, 'skipped manifest');
        logger.info({ ...report, skipped: report.skipped.length, seconds: (Date.now() - started) / 1000, index: backend.description }, 'reindex complete');
      } finally {
        await backend.close();
      }
    });
}
