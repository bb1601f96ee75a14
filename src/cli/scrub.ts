/** `pier scrub`: re-hash every blob and check every manifest and link; exits 1 when anything is wrong. */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { openRegistry } from '../main/open-registry.ts';
import { loadConfigOrThrow } from '../config/load.ts';
import { localDataDir, storageFromConfig } from '../config/storage-settings.ts';
import { scrub } from '../registry/scrub/scrub.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { indexSettings } from '../config/serve-settings.ts';

export function scrubCommand(): Command {
  return new Command('scrub')
    .description('verify every blob, manifest and link in storage; exit 1 when a problem is found')
    .option('--config <file>', 'config.yml: its storage (filesystem, s3, azure) and index sections name what to scrub')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--repair', 'move corrupt blobs to pier/quarantine/ and rebuild the index')
    .action(async (flags: { config?: string; data?: string; repair?: boolean }) => {
      const logger = createLogger('info');
      const config = flags.config ? loadConfigOrThrow({ file: flags.config, env: process.env, flags: flags.data ? { data: flags.data } : {} }).config : undefined;
      const storage = config ? storageFromConfig(config) : undefined;
      const dataDir = storage ? localDataDir(storage) : (flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data');
      const opened = await openRegistry({ dataDir, ...(storage ? { storage } : {}), logger, ...(config ? { index: indexSettings(config) } : {}) });
      try {
        const report = await scrub(opened.storage, opened.index, {
          repair: flags.repair ?? false,
          onProgress: (blobs, bytes) => logger.info({ blobs, bytes }, 'scrub progress'),
        });
        for (const problem of report.problems) logger.error(problem, 'scrub problem');
        if (flags.repair && report.problems.length > 0) {
          const rebuilt = await rebuildIndex(opened.storage, opened.index, logger);
          logger.info({ repositories: rebuilt.repositories, manifests: rebuilt.manifests }, 'index rebuilt');
        }
        logger.info(
          { blobsChecked: report.blobsChecked, bytesChecked: report.bytesChecked, manifestsChecked: report.manifestsChecked, problems: report.problems.length, quarantined: report.quarantined.length },
          'scrub complete',
        );
        process.exitCode = report.problems.length > 0 ? 1 : 0;
      } finally {
        await opened.close();
      }
    });
}
