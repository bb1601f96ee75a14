/**
 * `pier gc`: retention, then online garbage collection and upload purging; safe while `pier serve` runs
 * on the same data. With `--config`, the data directory, retention rules, immutable tags and GC settings
 * come from the configuration file (flags win).
 */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { openRegistry } from '../main/open-registry.ts';
import { collectGarbage } from '../registry/gc/collect-garbage.ts';
import { purgeUploads } from '../registry/gc/purge-uploads.ts';
import { applyRetention } from '../registry/gc/apply-retention.ts';
import { TagImmutability } from '../registry/policies/immutability.ts';
import { parseConfigDuration } from '../config/schema.ts';
import { loadConfigOrThrow } from '../config/load.ts';
import { indexSettings, lifecycleRules } from '../config/serve-settings.ts';

interface GcFlags {
  config?: string;
  data?: string;
  dryRun?: boolean;
  deleteUntagged?: boolean;
  keepReferrers?: boolean;
  grace?: string;
  purgeUploads: string;
  list?: boolean;
}

function duration(text: string, flag: string): number {
  const ms = parseConfigDuration(text);
  if (ms === undefined) throw new Error(`${flag}: invalid duration ${JSON.stringify(text)} (use e.g. 30s, 15m, 1h, 168h)`);
  return ms;
}

export function gcCommand(): Command {
  return new Command('gc')
    .description('apply retention and delete unreferenced blobs (optionally untagged manifests) while the registry keeps serving')
    .option('--config <file>', 'config.yml: data directory, lifecycle.retention, lifecycle.immutabletags, lifecycle.gc')
    .option('--data <dir>', 'data directory (storage.filesystem.rootdirectory; env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--dry-run', 'list what would be deleted and the bytes it would free; change nothing')
    .option('--delete-untagged', 'also delete manifests that no tag reaches (lifecycle.gc.deleteuntagged)')
    .option('--no-keep-referrers', 'with --delete-untagged, delete referrers (signatures, SBOMs) of kept manifests too')
    .option('--grace <duration>', 'keep anything pushed or linked within this long (lifecycle.gc.grace; default 1h)')
    .option('--purge-uploads <duration>', 'remove upload sessions older than this ("0s" to skip)', '168h')
    .option('--list', 'print every deleted item, not only the summary')
    .action(async (flags: GcFlags) => {
      const logger = createLogger('info');
      const { config } = loadConfigOrThrow({ ...(flags.config !== undefined ? { file: flags.config } : {}), env: process.env, flags: { ...(flags.data ? { data: flags.data } : {}) } });
      const rules = lifecycleRules(config);
      const dataDir = config.storage?.filesystem?.rootdirectory ?? './data';
      const dryRun = flags.dryRun ?? false;
      const opened = await openRegistry({ dataDir, logger, index: indexSettings(config) });
      try {
        const retention = await applyRetention(opened.storage, opened.index, rules.retention, new TagImmutability(rules.immutableTags), { dryRun });
        const report = await collectGarbage(opened.storage, opened.index, {
          gracePeriodMs: flags.grace !== undefined ? duration(flags.grace, '--grace') : config.lifecycle.gc.grace,
          deleteUntagged: flags.deleteUntagged ?? config.lifecycle.gc.deleteuntagged,
          keepReferrers: flags.keepReferrers === false ? false : config.lifecycle.gc.keepreferrers,
          dryRun,
          onProgress: (phase, done) => logger.info({ phase, done }, 'gc progress'),
        });
        const purgeAge = duration(flags.purgeUploads, '--purge-uploads');
        const purged = purgeAge > 0 ? await purgeUploads(opened.storage, purgeAge, dryRun) : { purged: [] };
        if (flags.list) {
          for (const t of retention.deleted) logger.info(t, dryRun ? 'would delete tag' : 'deleted tag');
          for (const m of report.manifestsDeleted) logger.info(m, dryRun ? 'would delete manifest' : 'deleted manifest');
          for (const b of report.blobsDeleted) logger.info(b, dryRun ? 'would delete blob' : 'deleted blob');
          for (const u of purged.purged) logger.info(u, dryRun ? 'would purge upload' : 'purged upload');
        }
        logger.info(
          {
            dryRun,
            tagsDeleted: retention.deleted.length,
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
