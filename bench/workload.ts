/** What a workload is given and what it gives back. */
import type http from 'node:http';
import type { Profile } from './profiles.ts';
import type { RunningServer } from './servers.ts';
import type { RegistryClient } from './registry-client.ts';
import type { WorkloadId } from './figures.ts';

export type TargetKind = 'pier' | 'reference';

/** One registry under test, with a keep-alive client and what earlier workloads left for later ones. */
export interface Target {
  kind: TargetKind;
  server: RunningServer;
  agent: http.Agent;
  client: RegistryClient;
  state: Map<string, unknown>;
}

export interface BenchContext {
  profile: Profile;
  log(line: string): void;
  /** Starts a server on `dataDir` (stopped by the bench at the end if still running). */
  launch(kind: TargetKind, dataDir: string): Promise<RunningServer>;
  /** Runs a `pier` subcommand to completion. */
  pierCli(args: string[]): { ms: number; output: string };
  /**
   * A fresh directory for data that needs many inodes: on tmpfs (/dev/shm) when it has room for `inodes`
   * and `bytes`, else beside the other data. Removed at the end of the run.
   */
  scratchDir(name: string, needs: { inodes: number; bytes: number }): { path: string; tmpfs: boolean };
}

export interface RunOutput {
  /** Figure id → value. */
  figures: Record<string, number>;
  /** Non-fatal trouble (e.g. some requests failed during a load level): reported as failures. */
  problems?: string[];
  /** Extra information for the JSON file (request counts, pages, …). */
  info?: Record<string, unknown>;
}

export interface Workload {
  id: WorkloadId;
  /** Only Pier runs it (twice), e.g. a scale the reference registry cannot serve. */
  pierOnly?: boolean;
  /** Runs on its own freshly started server (empty data directory), stopped afterwards. */
  dedicated?: boolean;
  /** Where that server keeps its data; default a new directory beside the other data. */
  dedicatedDataDir?(ctx: BenchContext): string;
  /** Untimed preparation on one target; may return single-sample figures (e.g. a population rate). */
  setup?(ctx: BenchContext, target: Target): Promise<RunOutput | void>;
  /** One measured run; `run` counts from 0 over all runs of this workload (both targets). */
  run(ctx: BenchContext, target: Target, run: number): Promise<RunOutput>;
}

/** Runs `task` over `items` with at most `concurrency` at once; rejects on the first failure. */
export async function inParallel<T>(items: T[], concurrency: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async (): Promise<void> => {
    while (failed === undefined && next < items.length) {
      const index = next++;
      try {
        await task(items[index]!, index);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failed !== undefined) throw failed;
}

export const seconds = (startedMs: number): number => (performance.now() - startedMs) / 1000;
