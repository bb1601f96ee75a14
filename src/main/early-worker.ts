/**
 * The first worker of a pool, forked before anything else is loaded: `pier serve` forks slot 0 as the very
 * first thing its supervisor does, so the worker's own start (compiling and evaluating the server, opening
 * the index) overlaps the supervisor's (loading the serve command, reading the configuration) instead of
 * following it. This runs before the configuration is read, so it forks only when the command line and the
 * environment already say a pool will run: `--workers N` or REGISTRY_HTTP_WORKERS with N > 1, or neither
 * and more than one core with no `workers:` key in the configuration file. The supervisor then adopts the
 * worker (runWorkerPool's `first`), or stops it when the configuration turns out to ask for one process.
 *
 * The production launcher (dist/cli/main.js, scripts/build.mjs) calls this from a small bundle of its own
 * before it even compiles the server's bundle; the state lives on a global symbol so that the server's copy
 * of this module sees the worker the launcher's copy forked.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Address } from 'node:cluster';
import { workerEnv } from './pool-env.ts';

export interface EarlyWorker {
  worker: Worker;
  forkedAt: number;
  /** Set once it listens (before the supervisor has adopted it, possibly). */
  listening?: Address;
  /** Set once it exited. */
  exited?: { code: number | null; signal: string | null };
}

/** Set in the early worker: a configuration error is its supervisor's to report (it reads the same one). */
export const EARLY_WORKER_ENV = 'PIER_EARLY_WORKER';

const STATE = Symbol.for('pier.earlyWorker');
const shared = globalThis as unknown as { [STATE]?: { early?: EarlyWorker; decided?: boolean } };
const state = (shared[STATE] ??= {});

/**
 * Options of `pier serve` that take a value (to find the positional configuration file); read before
 * commander is loaded, so test/unit/early-worker.test.ts keeps it in step with serve.ts.
 */
export const SERVE_OPTIONS_WITH_VALUES = new Set(['--config', '--addr', '--data', '--log-level', '--drain-timeout', '--shutdown-delay', '--workers']);

/** Forks slot 0 now when `args` (after `serve`) and `env` say a pool will run; once per process. */
export function forkFirstWorkerEarly(args: string[], env: NodeJS.ProcessEnv): void {
  if (!cluster.isPrimary || state.decided) return;
  state.decided = true;
  if (!poolExpected(args, env)) return;
  const worker = cluster.fork({ ...workerEnv(0), [EARLY_WORKER_ENV]: '1' });
  const early: EarlyWorker = { worker, forkedAt: Date.now() };
  worker.once('listening', (address) => (early.listening = address));
  worker.once('exit', (code, signal) => (early.exited = { code, signal }));
  state.early = early;
}

/** The early worker, handed over once (to the pool). */
export function takeEarlyWorker(): EarlyWorker | undefined {
  const taken = state.early;
  state.early = undefined;
  return taken;
}

/** Stops an early worker nobody will adopt (one process after all, or a configuration error). */
export async function dismissEarlyWorker(): Promise<void> {
  const early = takeEarlyWorker();
  if (!early || early.exited) return;
  const gone = new Promise((resolve) => early.worker.once('exit', resolve));
  early.worker.process.kill('SIGKILL');
  await gone;
}

function poolExpected(args: string[], env: NodeJS.ProcessEnv): boolean {
  if (args.includes('--help') || args.includes('-h')) return false;
  let configFile = env.REGISTRY_CONFIGURATION_PATH;
  let workers: string | undefined = env.REGISTRY_HTTP_WORKERS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = inline ?? (SERVE_OPTIONS_WITH_VALUES.has(name) ? args[++i] : undefined);
    if (name === '--workers') workers = value;
    else if (name === '--config') configFile = value;
    else if (!arg.startsWith('-') && configFile === env.REGISTRY_CONFIGURATION_PATH) configFile = arg;
  }
  if (workers !== undefined) return Number(workers) > 1;
  if (availableParallelism() < 2) return false;
  if (configFile === undefined) return true;
  try {
    return !/^\s+workers\s*:/m.test(readFileSync(configFile, 'utf8'));
  } catch {
    return false; // the supervisor reports the unreadable file
  }
}
