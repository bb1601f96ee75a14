/**
 * Background maintenance inside `pier serve`: garbage collection and upload purging on intervals. Each
 * run is logged and counted; a failing run is logged and the next one still happens.
 */
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import { collectGarbage, type GcOptions } from '../registry/gc/collect-garbage.ts';
import { purgeUploads } from '../registry/gc/purge-uploads.ts';
import { applyRetention, type RetentionRule } from '../registry/gc/apply-retention.ts';
import { TagImmutability, type ImmutabilityRule } from '../registry/policies/immutability.ts';
import { gcRunOf, type GcRunLog } from '../registry/gc/gc-run-log.ts';

export interface MaintenanceOptions {
  /** Retention (when rules are given), then garbage collection, every interval. */
  gc?: { intervalMs: number; retention?: RetentionRule[]; immutableTags?: ImmutabilityRule[] } & Omit<GcOptions, 'dryRun' | 'now' | 'onProgress'>;
  uploadPurging?: { intervalMs: number; maxAgeMs: number };
  /** Where each GC run is recorded (for the admin API). */
  gcRuns?: GcRunLog;
}

export function startMaintenance(
  storage: RegistryStorage,
  index: MetadataIndex,
  logger: Logger,
  metrics: Metrics,
  options: MaintenanceOptions,
): { stop(): Promise<void> } {
  const timers: NodeJS.Timeout[] = [];
  let running: Promise<unknown> = Promise.resolve();
  const schedule = (intervalMs: number, job: () => Promise<void>) => {
    const timer = setInterval(() => {
      running = running.then(job).catch((err: unknown) => logger.error({ err }, 'maintenance job failed'));
    }, intervalMs);
    timer.unref();
    timers.push(timer);
  };
  if (options.gc) {
    const { intervalMs, retention = [], immutableTags = [], ...gc } = options.gc;
    const immutability = new TagImmutability(immutableTags);
    schedule(intervalMs, async () => {
      const startedAt = new Date();
      const retained = await applyRetention(storage, index, retention, immutability, { dryRun: false });
      if (retained.deleted.length > 0) logger.info({ tagsDeleted: retained.deleted.length }, 'retention applied');
      const report = await collectGarbage(storage, index, { ...gc, dryRun: false });
      await options.gcRuns?.record(gcRunOf(report, startedAt, 'schedule', retained.deleted.length));
      metrics.gcRuns.inc();
      metrics.gcFreedBytes.inc(report.bytesFreed);
      logger.info(
        { manifestsDeleted: report.manifestsDeleted.length, blobsDeleted: report.blobsDeleted.length, bytesFreed: report.bytesFreed, durationMs: report.durationMs },
        'scheduled gc complete',
      );
    });
  }
  if (options.uploadPurging) {
    const { intervalMs, maxAgeMs } = options.uploadPurging;
    schedule(intervalMs, async () => {
      const report = await purgeUploads(storage, maxAgeMs, false);
      if (report.purged.length > 0) logger.info({ purged: report.purged.length }, 'purged old uploads');
    });
  }
  return {
    async stop() {
      for (const timer of timers) clearInterval(timer);
      await running;
    },
  };
}
