/** `pier reindex`: rebuild the metadata index from storage (e.g. a data directory written by registry:2). */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';
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
    .action(async (flags: { data?: string }) => {
      const logger = createLogger('info');
      const dataDir = flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data';
      mkdirSync(dirname(indexFile(dataDir)), { recursive: true });
      const index = new SqliteIndex(indexFile(dataDir));
      const started = Date.now();
      const report = await rebuildIndex(new DriverRegistryStorage(new FilesystemDriver(dataDir)), index, logger);
      index.markBuilt();
      await index.close();
      for (const skip of report.skipped) logger.warn(skip, 'skipped manifest');
      logger.info({ ...report, skipped: report.skipped.length, seconds: (Date.now() - started) / 1000 }, 'reindex complete');
    });
}
