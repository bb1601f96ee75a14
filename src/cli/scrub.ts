/** `pier scrub`: re-hash every blob and check every manifest and link; exits 1 when anything is wrong. */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { openRegistry } from '../main/open-registry.ts';
import { scrub } from '../registry/scrub/scrub.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { indexSettings } from '../config/serve-settings.ts';
import { loadDataSettings } from './token.ts';

export function scrubCommand(): Command {
  return new Command('scrub')
    .description('verify every blob, manifest and link in storage; exit 1 when a problem is found')
    .option('--config <file>', 'config.yml: the data directory and the index (index section)')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--repair', 'move corrupt blobs to pier/quarantine/ and rebuild the index')
    .action(async (flags: { config?: string; data?: string; repair?: boolean }) => {
      const logger = createLogger('info');
      let dataDir = flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data';
      let index;
      if (flags.config !== undefined) {
        const loaded = loadDataSettings(flags, 'scrub');
        dataDir = loaded.dataDir;
        index = indexSettings(loaded.config);
      }
      const opened = await openRegistry({ dataDir, logger, ...(index ? { index } : {}) });
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
