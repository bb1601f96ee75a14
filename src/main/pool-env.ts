/**
 * What a worker of a pool learns from its supervisor through its environment (kept apart from worker-pool.ts
 * so the earliest code of `pier serve` can fork a worker without loading anything else).
 */
import cluster from 'node:cluster';

export const WORKER_SLOT_ENV = 'PIER_WORKER_SLOT';
/** When the pool's supervisor started (ms since the epoch): the start-up gate's reference (index/storage-gate.ts). */
export const POOL_STARTED_ENV = 'PIER_POOL_STARTED_AT';

/** When this server started: the pool's supervisor for a worker, else this process. */
export function serverStartedAt(): number {
  const value = cluster.isWorker ? Number(process.env[POOL_STARTED_ENV]) : NaN;
  return Number.isFinite(value) ? value : Math.floor(performance.timeOrigin);
}

/** The environment a worker of `slot` is forked with. */
export function workerEnv(slot: number): Record<string, string> {
  return { [WORKER_SLOT_ENV]: String(slot), [POOL_STARTED_ENV]: String(serverStartedAt()) };
}
