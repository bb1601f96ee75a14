/**
 * The start-up gate: the server listens at once, and the reconciliation with storage (reconcile.ts) runs
 * after, in the background, in one process (a single process, or slot 0 of a worker pool). Until the pass is
 * done, a request that touches a repository waits until that repository was checked since the server (the
 * pool) started — by the pass, by another worker, or on demand by this process — so no request sees what the
 * index held before another registry (registry:2 during a migration or a rollback) wrote to the data
 * directory while Pier was down. Listing every repository (the catalog, a namespace's usage) waits for the
 * whole pass, so it misses no repository another registry added.
 *
 * Whether a repository was checked since `since` is kept in the index (storageCheckedAt), so every worker
 * sees it; this process remembers what it saw, and once the whole pass is recorded the gate is open for good
 * and costs nothing more.
 */
import type { MetadataIndex, RegistryStorage, UsageScope } from '../registry/ports.ts';
import type { Logger } from '../observability/logger.ts';
import { reconcileIndex, reconcileRepository, WHOLE_PASS } from './reconcile.ts';

/** How often a process that does not run the pass looks whether it is done. */
const PASS_POLL_MS = 100;
/** After a failed pass, the next try. */
const PASS_RETRY_MS = 10_000;
/** Names this process remembers as checked before the pass is done (a bound against a flood of names). */
const MAX_REMEMBERED = 100_000;

export class StorageGate {
  private open = false;
  private readonly checked = new Set<string>();
  private readonly checking = new Map<string, Promise<void>>();
  private recorded?: Promise<Map<string, string>>;
  private passWait?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly storage: RegistryStorage,
    /** The index itself (not a gated one). */
    private readonly index: MetadataIndex,
    /** When the server (the pool) started, ms since the epoch. */
    private readonly since: number,
    private readonly logger?: Logger,
  ) {}

  /** True once the whole pass since `since` is recorded: nothing waits any more. */
  get isOpen(): boolean {
    return this.open;
  }

  /** Opens the gate at once (a brand-new index was just built from storage). */
  async markChecked(at: number): Promise<void> {
    await this.index.recordStorageChecks([WHOLE_PASS], at);
    this.opened();
  }

  /** Resolves once `repository` was checked since the start (checking it here if nobody has). */
  repository(repository: string): Promise<void> {
    if (this.open || this.checked.has(repository)) return Promise.resolve();
    let pending = this.checking.get(repository);
    if (!pending) {
      pending = this.check(repository).finally(() => this.checking.delete(repository));
      this.checking.set(repository, pending);
    }
    return pending;
  }

  /** Resolves once the whole pass since the start is recorded. */
  whole(): Promise<void> {
    if (this.open) return Promise.resolve();
    this.passWait ??= this.waitForPass();
    return this.passWait;
  }

  /** Runs the whole pass (in one process of a pool), retrying after a failure until it is done. */
  async runPass(): Promise<void> {
    while (!this.open && !this.stopped) {
      try {
        if (await this.passRecorded()) break;
        await reconcileIndex(this.storage, this.index, this.logger, { skipCheckedSince: this.since });
        this.opened();
        return;
      } catch (error) {
        if (this.stopped) return; // the index closed under it
        this.logger?.error({ err: (error as Error).message, retryInMs: PASS_RETRY_MS }, 'reconciling the index with storage failed');
        await new Promise((resolve) => setTimeout(resolve, PASS_RETRY_MS).unref());
      }
    }
  }

  /** Stops waiting (the server is closing). */
  stop(): void {
    this.stopped = true;
  }

  private async check(repository: string): Promise<void> {
    try {
      const at = await this.index.storageCheckedAt(repository);
      if ((at === undefined || at < this.since) && !(await this.passRecorded())) {
        this.recorded ??= this.index.storageFingerprints();
        const outcome = await reconcileRepository(this.storage, this.index, repository, (await this.recorded).get(repository));
        if (outcome === 'changed' || outcome === 'forgotten') this.logger?.info({ repository, outcome }, 'repository reconciled with storage');
      }
      if (this.checked.size >= MAX_REMEMBERED) this.checked.clear();
      this.checked.add(repository);
    } catch (error) {
      // A name storage cannot hold, or a storage error: the request itself answers for it.
      this.logger?.warn({ repository, err: (error as Error).message }, 'could not check a repository against storage');
    }
  }

  private async passRecorded(): Promise<boolean> {
    if (this.open) return true;
    const at = await this.index.storageCheckedAt(WHOLE_PASS);
    if (at !== undefined && at >= this.since) this.opened();
    return this.open;
  }

  private async waitForPass(): Promise<void> {
    while (!this.stopped) {
      try {
        if (await this.passRecorded()) return;
      } catch (error) {
        if (this.stopped) return; // the index closed under it
        this.logger?.warn({ err: (error as Error).message }, 'could not read whether the index was reconciled with storage');
      }
      await new Promise((resolve) => setTimeout(resolve, PASS_POLL_MS));
    }
  }

  private opened(): void {
    this.open = true;
    this.checked.clear();
  }
}

/** The registry's view of the index: each method waits for the gate of what it touches. */
export function gatedByStorageCheck(index: MetadataIndex, gate: StorageGate): MetadataIndex {
  const byRepository = (name: keyof MetadataIndex) => {
    const method = (index[name] as (...args: unknown[]) => Promise<unknown>).bind(index);
    return async (repository: string, ...rest: unknown[]) => {
      await gate.repository(repository);
      return method(repository, ...rest);
    };
  };
  const byScope = (name: 'usage' | 'blobInScope') => {
    const method = (index[name] as (...args: unknown[]) => Promise<unknown>).bind(index);
    return async (scope: UsageScope, ...rest: unknown[]) => {
      await ('repository' in scope ? gate.repository(scope.repository) : gate.whole());
      return method(scope, ...rest);
    };
  };
  const putManifest = index.putManifest.bind(index);
  const listRepositories = index.listRepositories.bind(index);
  const overrides: Partial<Record<keyof MetadataIndex, unknown>> = {
    addBlob: byRepository('addBlob'),
    repositoryBlobSize: byRepository('repositoryBlobSize'),
    removeBlob: byRepository('removeBlob'),
    getManifest: byRepository('getManifest'),
    deleteManifest: byRepository('deleteManifest'),
    missingManifests: byRepository('missingManifests'),
    missingBlobs: byRepository('missingBlobs'),
    resolveTag: byRepository('resolveTag'),
    deleteTag: byRepository('deleteTag'),
    listTags: byRepository('listTags'),
    tagRecords: byRepository('tagRecords'),
    repositoryExists: byRepository('repositoryExists'),
    listReferrers: byRepository('listReferrers'),
    usage: byScope('usage'),
    blobInScope: byScope('blobInScope'),
    putManifest: async (write: Parameters<MetadataIndex['putManifest']>[0], options?: Parameters<MetadataIndex['putManifest']>[1]) => {
      await gate.repository(write.repository);
      return putManifest(write, options);
    },
    listRepositories: async (after: string | undefined, limit: number) => {
      await gate.whole();
      return listRepositories(after, limit);
    },
  };
  // The index's own methods, bound once: every index call of every request passes through here.
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(index, {
    get(target, property, receiver) {
      // Once open, the index's own methods: the steady state pays nothing for the gate.
      if (!gate.isOpen && typeof property === 'string' && property in overrides) return overrides[property as keyof MetadataIndex];
      const known = bound.get(property);
      if (known !== undefined) return known;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = value.bind(target);
      bound.set(property, method);
      return method;
    },
  });
}
