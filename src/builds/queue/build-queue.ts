/**
 * The build queue's worker in one Pier process: claims builds from the store up to the concurrency limit,
 * runs each with a timeout, renews its lease while it runs (and notices a cancellation requested through
 * any process), writes its log lines to the store as they come, records the outcome and announces it.
 * Builds whose lease ran out (their process died) are put back in the queue and run again. On a clean
 * stop, running builds are aborted and put back in the queue for the next start.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../observability/logger.ts';
import type { BuildEvents } from '../build-events.ts';
import type { BuildLog } from '../builder.ts';
import type { BuildRecord, BuildRequest, BuildStore } from './build-store.ts';
import type { RunResult } from '../run-build.ts';

export interface QueueOptions {
  concurrency: number;
  timeoutMs: number;
  leaseMs: number;
  pollMs: number;
  /** Parent folder of each build's scratch folder. */
  workRoot: string;
  /** Called once a build has reached its final state (succeeded, failed or cancelled). */
  onFinished?: (build: BuildRecord) => Promise<void>;
}

export type BuildRunner = (build: BuildRecord, workDir: string, log: BuildLog, signal: AbortSignal) => Promise<RunResult>;

/** Keeps anything that looks like a credential out of stored logs. */
function scrub(line: string): string {
  return line.replace(/(Authorization:\s*\w+\s+)\S+/gi, '$1[redacted]').replace(/\/\/[^/\s@]+@/g, '//[redacted]@').slice(0, 8192);
}

export class BuildQueue {
  readonly owner = randomUUID();
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void>; reason?: 'cancelled' | 'timeout' | 'stopping' }>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking = false;
  private listeners = new Map<string, Set<() => void>>();

  constructor(
    private readonly store: BuildStore,
    private readonly runner: BuildRunner,
    private readonly events: BuildEvents,
    private readonly logger: Logger,
    private readonly options: QueueOptions,
  ) {}

  start(): void {
    void this.removeStaleFolders();
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    this.timer.unref();
    void this.tick();
  }

  async enqueue(request: BuildRequest): Promise<{ build: BuildRecord; deduplicated: boolean }> {
    const result = await this.store.enqueue(request, new Date());
    this.logger.info({ build: result.build.id, definition: request.definitionId, tags: request.tags, cause: request.cause.kind, deduplicated: result.deduplicated }, 'build queued');
    this.wake();
    return result;
  }

  wake(): void {
    setImmediate(() => void this.tick());
  }

  async cancel(id: string): Promise<BuildRecord | undefined> {
    const before = await this.store.getBuild(id);
    const build = await this.store.cancel(id, new Date());
    // A queued build is cancelled here and never runs: clean up after it now.
    if (before?.status === 'queued' && build?.status === 'cancelled') await this.options.onFinished?.(build).catch(() => undefined);
    const local = this.running.get(id);
    if (local) {
      local.reason = 'cancelled';
      local.controller.abort(new Error('cancelled'));
    }
    this.notify(id);
    return build;
  }

  /** Calls `listener` whenever this process adds log lines to the build or changes its state. */
  subscribe(id: string, listener: () => void): () => void {
    const set = this.listeners.get(id) ?? new Set();
    set.add(listener);
    this.listeners.set(id, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  private notify(id: string): void {
    for (const listener of this.listeners.get(id) ?? []) listener();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.ticking) return;
    this.ticking = true;
    try {
      const requeued = await this.store.requeueExpired(new Date());
      if (requeued.length > 0) this.logger.warn({ builds: requeued }, 'builds interrupted (their process stopped): queued again');
      while (!this.stopped && this.running.size < this.options.concurrency) {
        const build = await this.store.claim(this.owner, this.options.concurrency, this.options.leaseMs, new Date());
        if (!build) break;
        this.launch(build);
      }
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'build queue tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private launch(build: BuildRecord): void {
    const controller = new AbortController();
    const entry: { controller: AbortController; done: Promise<void>; reason?: 'cancelled' | 'timeout' | 'stopping' } = { controller, done: Promise.resolve() };
    this.running.set(build.id, entry);
    entry.done = this.execute(build, entry).finally(() => {
      this.running.delete(build.id);
      this.notify(build.id);
      this.wake();
    });
  }

  private async execute(build: BuildRecord, entry: { controller: AbortController; reason?: 'cancelled' | 'timeout' | 'stopping' }): Promise<void> {
    const started = Date.now();
    const pending: string[] = [];
    let flushing = Promise.resolve();
    const flush = () => {
      const lines = pending.splice(0);
      flushing = flushing.then(() => this.store.appendLog(build.id, lines)).then(() => this.notify(build.id), (error) => this.logger.error({ err: (error as Error).message }, 'cannot store build log'));
      return flushing;
    };
    const log: BuildLog = { line: (text) => pending.push(`${new Date().toISOString()} ${scrub(text)}`) };
    log.line(`build ${build.id} started (attempt ${build.attempts}) for ${build.repository}:${build.tags.join(',')}`);
    this.logger.info({ build: build.id, definition: build.definitionId, attempt: build.attempts }, 'build started');
    const flusher = setInterval(() => void flush(), 250);
    const renewer = setInterval(() => {
      void this.store.renew(build.id, this.owner, this.options.leaseMs, new Date()).then(({ held, cancelRequested }) => {
        if (!held || cancelRequested) {
          entry.reason ??= 'cancelled';
          entry.controller.abort(new Error('cancelled'));
        }
      });
    }, Math.max(200, Math.floor(this.options.leaseMs / 3)));
    const timeout = setTimeout(() => {
      entry.reason ??= 'timeout';
      entry.controller.abort(new Error('timed out'));
    }, this.options.timeoutMs);
    let workDir: string | undefined;
    let outcome: Parameters<BuildStore['finish']>[2];
    try {
      workDir = await mkdtemp(join(this.options.workRoot, 'build-'));
      const result = await this.runner(build, workDir, log, entry.controller.signal);
      log.line(`succeeded: ${build.repository}@${result.image.digest}${result.image.bases.length ? ` on ${result.image.bases.map((b) => `${b.repository}@${b.digest} (${b.platform})`).join(', ')}` : ''}`);
      outcome = { status: 'succeeded', builder: result.builder, builtCommit: result.commit, digest: result.image.digest, bases: result.image.bases };
    } catch (error) {
      const reason = entry.reason;
      const message = reason === 'timeout' ? `timed out after ${Math.round(this.options.timeoutMs / 1000)} s` : reason === 'cancelled' ? 'cancelled' : (error as Error).message;
      log.line(reason === 'cancelled' ? 'cancelled' : `failed: ${message}`);
      outcome = reason === 'cancelled' ? { status: 'cancelled', error: 'cancelled' } : { status: 'failed', error: scrub(message) };
    } finally {
      clearInterval(renewer);
      clearTimeout(timeout);
      clearInterval(flusher);
      if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
    await flush();
    if (entry.reason === 'stopping') return; // release() puts it back in the queue
    const finished = await this.store.finish(build.id, this.owner, outcome, new Date());
    if (!finished) return;
    await this.options.onFinished?.(build).catch((error) => this.logger.error({ err: (error as Error).message }, 'build clean-up failed'));
    const durationMs = Date.now() - started;
    this.logger.info({ build: build.id, status: outcome.status, durationMs, digest: outcome.digest }, 'build finished');
    if (outcome.status === 'cancelled') return;
    await this.events
      .emit({
        type: outcome.status === 'succeeded' ? 'build.succeeded' : 'build.failed',
        buildId: build.id,
        definitionId: build.definitionId,
        repository: build.repository,
        tags: build.tags,
        ...(outcome.builtCommit ? { commit: outcome.builtCommit } : {}),
        ...(outcome.digest ? { digest: outcome.digest } : {}),
        ...(outcome.error ? { error: outcome.error } : {}),
        durationMs,
      })
      .catch((error) => this.logger.error({ err: (error as Error).message }, 'cannot emit build event'));
  }

  /**
   * Scratch folders left by a process that died mid-build. No build runs longer than the timeout, so a
   * folder untouched for longer than the timeout plus two leases belongs to no running build, here or in
   * another process.
   */
  private async removeStaleFolders(): Promise<void> {
    const cutoff = Date.now() - this.options.timeoutMs - 2 * this.options.leaseMs;
    try {
      for (const name of await readdir(this.options.workRoot)) {
        if (!name.startsWith('build-')) continue;
        const path = join(this.options.workRoot, name);
        const info = await stat(path).catch(() => undefined);
        if (info && info.mtimeMs < cutoff) {
          await rm(path, { recursive: true, force: true });
          this.logger.info({ folder: name }, 'removed the scratch folder of an interrupted build');
        }
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'cannot look for stale build folders');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const all = [...this.running.values()];
    for (const entry of all) {
      entry.reason = 'stopping';
      entry.controller.abort(new Error('stopping'));
    }
    await Promise.all(all.map((e) => e.done));
    await this.store.release(this.owner);
  }
}
