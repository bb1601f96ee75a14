/**
 * The supervisor of `pier serve --workers N` (N > 1): N worker processes (node:cluster) share one listening
 * socket; this process only supervises them. It loads no registry code itself: each worker runs the same
 * `pier serve` command and opens the data directory and the index on its own, which is safe because every
 * piece of state a request needs lives in storage or the index (uploads, locks, GC marks), never in one
 * process's memory.
 *
 * - Start: slot 0 is forked before the supervisor has even read its configuration (early-worker.ts), the
 *   others once it listens; a brand-new index is built from storage by slot 0 alone.
 * - Slot 0 also runs the scheduled maintenance jobs (GC, retention, upload purging): exactly one process
 *   does, and its replacement takes the job over.
 * - A worker that dies is replaced in the same slot (at once when it had lived a while; with a growing
 *   pause, up to 10 s, when it keeps dying young). A worker that dies before the pool first came up makes
 *   the supervisor exit with an error: that is a configuration problem, not a crash to retry forever.
 * - SIGTERM / SIGINT: every worker is asked to drain (the same drain as a single process: /readyz goes 503,
 *   requests in flight finish up to http.draintimeout); the supervisor exits once all have exited.
 * - SIGHUP is passed on (workers re-read the TLS certificate).
 * - /metrics on any worker answers for the whole pool (cluster-metrics.ts).
 *
 * Connections are handed to workers round-robin by this process (node's default scheduling on Linux),
 * which spreads long-lived keep-alive connections evenly, unlike leaving it to the kernel.
 */
import cluster, { type Address, type Worker } from 'node:cluster';
import type { Logger } from '../observability/logger.ts';
import { serveAggregatedMetrics } from '../observability/cluster-metrics.ts';
import { WORKER_SLOT_ENV, workerEnv } from './pool-env.ts';
import { markStartup } from '../observability/startup-trace.ts';
import type { EarlyWorker } from './early-worker.ts';

export { WORKER_SLOT_ENV, POOL_STARTED_ENV, serverStartedAt } from './pool-env.ts';

export interface PoolOptions {
  workers: number;
  logger: Logger;
  /** How long workers may drain on shutdown; the supervisor waits this long plus a margin, then kills. */
  drainTimeoutMs: number;
  shutdownDelayMs: number;
  /** Slot 0, already forked (early-worker.ts). */
  first?: EarlyWorker;
  /** Called once every worker has started listening for the first time. */
  onReady?: (pids: number[], port: number) => void;
}

/** The slot of this worker process, or undefined outside a pool. */
export function workerSlot(): number | undefined {
  const value = process.env[WORKER_SLOT_ENV];
  return cluster.isWorker && value !== undefined ? Number(value) : undefined;
}

/** Runs the pool until it is shut down; resolves with the exit code the supervisor should exit with. */
export function runWorkerPool(options: PoolOptions): Promise<number> {
  const { logger, workers: size } = options;
  const slots = new Map<number, Worker>();
  const startedAt = new Map<number, number>();
  const failures = new Map<number, number>();
  const listening = new Set<Worker>();
  let up = false;
  let stopping = false;
  serveAggregatedMetrics();

  return new Promise<number>((resolve) => {
    const finishWhenEmpty = () => {
      if (stopping && slots.size === 0) resolve(0);
    };

    const start = (slot: number, early?: EarlyWorker) => {
      const worker = early?.worker ?? cluster.fork(workerEnv(slot));
      slots.set(slot, worker);
      startedAt.set(slot, early?.forkedAt ?? Date.now());
      // An early worker may have listened, or exited, before it was handed over.
      const onListening = (address: Address) => {
        markStartup(`worker ${slot} listening`);
        listening.add(worker);
        if (!up && slot === 0 && slots.size < size) for (let s = 1; s < size; s++) start(s);
        if (!up && slots.size === size && [...slots.values()].every((w) => listening.has(w))) {
          up = true;
          options.onReady?.([...slots.values()].map((w) => w.process.pid!), address.port);
        }
      };
      if (early?.listening) queueMicrotask(() => onListening(early.listening!));
      else worker.once('listening', onListening);
      const onExit = (code: number | null, signal: string | null) => {
        listening.delete(worker);
        if (slots.get(slot) === worker) slots.delete(slot);
        if (stopping) {
          finishWhenEmpty();
          return;
        }
        if (!up) {
          logger.fatal({ worker: slot, pid: worker.process.pid, code, signal }, 'a worker exited while the pool was starting');
          stopping = true;
          for (const other of slots.values()) other.kill('SIGTERM');
          // An exit code from the worker (e.g. 2 for a bad configuration) is the supervisor's too.
          resolve(typeof code === 'number' && code !== 0 ? code : 1);
          return;
        }
        const lived = Date.now() - (startedAt.get(slot) ?? 0);
        const failed = lived < 10_000 ? (failures.get(slot) ?? 0) + 1 : 0;
        failures.set(slot, failed);
        const pauseMs = failed === 0 ? 0 : Math.min(10_000, 250 * 2 ** (failed - 1));
        logger.error({ worker: slot, pid: worker.process.pid, code, signal, restartInMs: pauseMs }, 'worker died: starting a replacement');
        setTimeout(() => {
          if (!stopping) start(slot);
        }, pauseMs).unref();
      };
      if (early?.exited) queueMicrotask(() => onExit(early.exited!.code, early.exited!.signal));
      else worker.once('exit', onExit);
    };

    const shutdown = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, workers: slots.size }, 'shutting down: draining every worker');
      for (const worker of slots.values()) worker.process.kill('SIGTERM');
      // A worker that does not finish its drain (plus a margin for closing the index) is killed.
      setTimeout(() => {
        for (const worker of slots.values()) {
          logger.warn({ pid: worker.process.pid }, 'worker did not stop after the drain deadline: killing it');
          worker.process.kill('SIGKILL');
        }
      }, options.shutdownDelayMs + options.drainTimeoutMs + 5_000).unref();
      finishWhenEmpty();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      for (const worker of slots.values()) worker.process.kill('SIGHUP');
    });
    markStartup('pool started');
    // Slot 0 first, the others once it listens: the first 200 comes sooner when slot 0 has the cores to
    // itself (the others would compete with it for CPU at start), and a brand-new index is built by slot 0
    // alone (a worker that finds it unbuilt waits for it anyway, open-index.ts).
    start(0, options.first);
  });
}
