/**
 * Background maintenance inside `pier serve`: garbage collection and upload purging on intervals. Each
 * run is logged and counted; a failing run is logged and the next one still happens.
 *
 * With a job lease (replicas sharing a PostgreSQL index), every replica keeps timers but a job runs only
 * where its lease is claimed: on one replica at a time, once per interval across all of them. Timers then
 * look at least every LEASE_CHECK_MS, so the job still runs on time when the replica that ran it last is gone.
 */
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import { collectGarbage, type GcOptions } from '../registry/gc/collect-garbage.ts';
import { purgeUploads } from '../registry/gc/purge-uploads.ts';
import { applyRetention, type RetentionRule } from '../registry/gc/apply-retention.ts';
import { TagImmutability, type ImmutabilityRule } from '../registry/policies/immutability.ts';
import type { JobLease } from './job-lease.ts';

const LEASE_CHECK_MS = 60_000;
/** A claim lasts this long unless renewed (every third of it while the job runs). */
const LEASE_TTL_MS = 60_000;

export interface MaintenanceOptions {
  /** Retention (when rules are given), then garbage collection, every interval. */
  gc?: { intervalMs: number; retention?: RetentionRule[]; immutableTags?: ImmutabilityRule[] } & Omit<GcOptions, 'dryRun' | 'now' | 'onProgress'>;
  uploadPurging?: { intervalMs: number; maxAgeMs: number };
  /** Shared by replicas: run each job on one of them at a time (absent: run here on every tick). */
  lease?: JobLease;
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
  const { lease } = options;
  const schedule = (name: string, intervalMs: number, job: () => Promise<void>) => {
    const tickMs = lease ? Math.min(intervalMs, LEASE_CHECK_MS) : intervalMs;
    const registered = lease?.register(name).catch((err: unknown) => logger.error({ err, job: name }, 'cannot register the job lease'));
    const timer = setInterval(() => {
      running = running
        .then(async () => {
          if (!lease) return job();
          await registered;
          // A little slack, so a job due "now" is not put off by a whole tick because of timer jitter; small
          // enough that replicas whose ticks are staggered do not run it more often than once per interval.
          const slackMs = Math.min(tickMs / 2, intervalMs / 10, 5_000);
          if (!(await lease.claim(name, intervalMs - slackMs, LEASE_TTL_MS))) return;
          const renew = setInterval(() => void lease.renew(name, LEASE_TTL_MS).catch(() => undefined), LEASE_TTL_MS / 3);
          renew.unref();
          try {
            await job();
          } finally {
            clearInterval(renew);
            await lease.release(name);
          }
        })
        .catch((err: unknown) => logger.error({ err, job: name }, 'maintenance job failed'));
    }, tickMs);
    timer.unref();
    timers.push(timer);
  };
  if (options.gc) {
    const { intervalMs, retention = [], immutableTags = [], ...gc } = options.gc;
    const immutability = new TagImmutability(immutableTags);
    schedule('gc', intervalMs, async () => {
      const retained = await applyRetention(storage, index, retention, immutability, { dryRun: false });
      if (retained.deleted.length > 0) logger.info({ tagsDeleted: retained.deleted.length }, 'retention applied');
      const report = await collectGarbage(storage, index, { ...gc, dryRun: false });
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
    schedule('upload-purging', intervalMs, async () => {
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
