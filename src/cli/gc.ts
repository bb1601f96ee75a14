/** `pier gc`: online garbage collection and upload purging; safe while `pier serve` runs on the same data. */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { openRegistry } from '../main/open-registry.ts';
import { collectGarbage } from '../registry/gc/collect-garbage.ts';
import { purgeUploads } from '../registry/gc/purge-uploads.ts';
import { parseDuration } from '../config/duration.ts';

interface GcFlags {
  data?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  keepReferrers: boolean;
  grace: string;
  purgeUploads: string;
  list?: boolean;
}

export function gcCommand(): Command {
  return new Command('gc')
    .description('delete unreferenced blobs (and, optionally, untagged manifests) while the registry keeps serving')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--dry-run', 'list what would be deleted and the bytes it would free; change nothing')
    .option('--delete-untagged', 'also delete manifests that no tag reaches')
    .option('--no-keep-referrers', 'with --delete-untagged, delete referrers (signatures, SBOMs) of kept manifests too')
    .option('--grace <duration>', 'keep anything pushed or linked within this long', '1h')
    .option('--purge-uploads <duration>', 'remove upload sessions older than this ("0" to skip)', '168h')
    .option('--list', 'print every deleted item, not only the summary')
    .action(async (flags: GcFlags) => {
      const logger = createLogger('info');
      const dataDir = flags.data ?? process.env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY ?? './data';
      const opened = await openRegistry({ dataDir, logger });
      try {
        const progress = (phase: string, done: number) => logger.info({ phase, done }, 'gc progress');
        const report = await collectGarbage(opened.storage, opened.index, {
          gracePeriodMs: parseDuration(flags.grace),
          deleteUntagged: flags.deleteUntagged ?? false,
          keepReferrers: flags.keepReferrers,
          dryRun: flags.dryRun ?? false,
          onProgress: progress,
        });
        const purgeAge = parseDuration(flags.purgeUploads);
        const purged = purgeAge > 0 ? await purgeUploads(opened.storage, purgeAge, flags.dryRun ?? false) : { purged: [] };
        if (flags.list) {
          for (const m of report.manifestsDeleted) logger.info(m, flags.dryRun ? 'would delete manifest' : 'deleted manifest');
          for (const b of report.blobsDeleted) logger.info(b, flags.dryRun ? 'would delete blob' : 'deleted blob');
          for (const u of purged.purged) logger.info(u, flags.dryRun ? 'would purge upload' : 'purged upload');
        }
        logger.info(
          {
            dryRun: report.dryRun,
            manifestsDeleted: report.manifestsDeleted.length,
            layerLinksRemoved: report.layerLinksRemoved,
            blobsDeleted: report.blobsDeleted.length,
            bytesFreed: report.bytesFreed,
            blobsKept: report.blobsKept,
            uploadsPurged: purged.purged.length,
            durationMs: report.durationMs,
          },
          'gc complete',
        );
      } finally {
        await opened.close();
      }
    });
}
