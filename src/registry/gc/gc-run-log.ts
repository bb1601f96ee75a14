/**
 * A record of garbage collection runs (Pier-only): when each ran, who started it (the schedule or `pier gc`),
 * and what it freed — what the operations page shows. Dry runs are not recorded. A port: the SQLite adapter
 * keeps the records in the index's database.
 */
import type { GcReport } from './collect-garbage.ts';

export interface GcRun {
  startedAt: Date;
  durationMs: number;
  trigger: 'schedule' | 'command';
  tagsDeleted: number;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
}

export interface GcRunLog {
  record(run: GcRun): Promise<void>;
  /** The most recent runs, newest first. */
  recent(limit: number): Promise<GcRun[]>;
  close(): Promise<void>;
}

export function gcRunOf(report: GcReport, startedAt: Date, trigger: GcRun['trigger'], tagsDeleted: number): GcRun {
  return {
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    trigger,
    tagsDeleted,
    manifestsDeleted: report.manifestsDeleted.length,
    blobsDeleted: report.blobsDeleted.length,
    bytesFreed: report.bytesFreed,
  };
}
