/**
 * The composition root: the only place that knows every concrete class. Builds the storage driver, the
 * metadata index and the registry from plain options, and builds a brand-new index from storage so an
 * existing data directory (Pier's or the reference registry's) is served at once; an existing index is
 * brought up to date with whatever another writer changed in storage meanwhile by the start-up gate
 * (index/storage-gate.ts): the caller listens first and then runs `gate.runPass()` in one process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import type { StorageDriver } from '../storage/contract.ts';
import { defaultSqliteFile, openIndexBackend, type IndexBackend, type IndexSettings } from './open-index.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { gatedByStorageCheck, StorageGate } from '../index/storage-gate.ts';
import { reconcileIndex } from '../index/reconcile.ts';
import { adoptingFromStorage } from '../index/adopt-from-storage.ts';
import { Registry, type BlobUseCases, type ManifestUseCases, type UseCaseDecorators } from '../registry/registry.ts';
import { DEFAULT_REGISTRY_OPTIONS, type RegistryOptions } from '../registry/context.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import type { EventLog } from '../events/event-log.ts';
import type { Logger } from '../observability/logger.ts';
import { instrument, type Metrics } from '../observability/metrics.ts';
import { ROOT } from '../storage/layout.ts';
import { Registry as PromRegistry } from 'prom-client';
import type { PullThroughSettings } from '../upstream/upstream-settings.ts';
import { openStorageDriver } from './open-storage.ts';
import type { StorageSelection } from '../config/storage-settings.ts';
import { markStartup } from '../observability/startup-trace.ts';

export interface OpenOptions {
  /** The local directory: the storage root on filesystem storage; always where the SQLite index lives. */
  dataDir: string;
  /** Storage driver and settings; filesystem storage in dataDir when absent. */
  storage?: StorageSelection;
  /** Redirect blob downloads to the store when the driver can sign URLs (storage.redirect.disable: false). */
  redirect?: boolean;
  logger: Logger;
  metrics?: Metrics;
  registry?: Partial<RegistryOptions>;
  /** Decorators around the manifest and blob use cases, outside the pull-through cache's (events/ records pulls). */
  decorateUseCases?: (index: MetadataIndex) => { manifests?(inner: ManifestUseCases): ManifestUseCases; blobs?(inner: BlobUseCases): BlobUseCases };
  /** The `proxy` section: serve (and cache) repositories from upstream registries. */
  pullThrough?: PullThroughSettings;
  /** The metadata index (index section); SQLite in the data directory when absent. */
  index?: IndexSettings;
  /** Wraps the index the registry's use cases write through (events/ record events, builds observe tag pushes). */
  decorateIndex?: (index: MetadataIndex) => MetadataIndex;
  /**
   * When the server (a pool: its supervisor) started, ms since the epoch: requests wait until what they touch
   * was checked against storage since then (index/storage-gate.ts). Default: now.
   */
  startedAt?: number;
  /** A pool's workers but the first: a brand-new index is built by the first, the others wait for it. */
  waitForIndexBuilder?: boolean;
  /**
   * 'before' (default; the CLI's commands, e.g. `pier gc`): reconcile the whole index with storage before
   * returning. 'gate' (a server): return at once; requests wait at the gate, and the caller runs the pass.
   */
  reconcile?: 'before' | 'gate';
}

export interface OpenRegistry {
  registry: Registry;
  storage: DriverRegistryStorage;
  index: MetadataIndex;
  /** Deliveries and webhooks of events, in the index's database. */
  eventLog: EventLog;
  /** The index's backend: its token store and, for shared databases, the job lease. */
  indexBackend: IndexBackend;
  /** The start-up gate: the caller runs `gate.runPass()` (in one process of a pool) once it listens. */
  gate: StorageGate;
  /** The index as requests may read it: behind the gate (the registry's use cases read it so too). */
  servedIndex: MetadataIndex;
  /** Cheap checks that storage and index answer, for readiness. */
  probes: Record<string, () => Promise<void>>;
  close(): Promise<void>;
}

export const indexFile = defaultSqliteFile;

export async function openRegistry({ startedAt, waitForIndexBuilder, reconcile = 'before', dataDir, storage: selection, redirect, logger, metrics, registry: options, pullThrough: pullThroughSettings, index: indexSettings, decorateIndex, decorateUseCases }: OpenOptions): Promise<OpenRegistry> {
  mkdirSync(join(dataDir, 'pier'), { recursive: true });
  const opened = await openStorageDriver(selection ?? { driver: 'filesystem', rootDirectory: dataDir });
  const rawDriver = opened.driver;
  let backend: IndexBackend;
  try {
    backend = await openIndexBackend(indexSettings, dataDir);
  } catch (error) {
    opened.close();
    throw error;
  }
  const driver: StorageDriver = metrics
    ? instrument(rawDriver, (operation, seconds, failed) => {
        metrics.storageDuration.observe({ driver: rawDriver.name, operation }, seconds);
        if (failed) metrics.storageErrors.inc({ driver: rawDriver.name, operation });
      })
    : rawDriver;
  const index: MetadataIndex = metrics
    ? instrument<MetadataIndex>(backend.index, (operation, seconds) => metrics.indexDuration.observe({ operation }, seconds))
    : backend.index;
  const storage = new DriverRegistryStorage(driver, redirect && opened.presign ? { presign: opened.presign } : {});
  markStartup('storage and index open');
  const gate = new StorageGate(storage, index, startedAt ?? Date.now(), logger);
  try {
    const buildStarted = Date.now();
    const built = await backend.buildIfNew(async () => {
      const report = await rebuildIndex(storage, index, logger);
      if (report.repositories > 0) logger.info({ ...report, skipped: report.skipped.length }, 'built the index from existing storage');
    }, { waitForBuilder: waitForIndexBuilder === true });
    // Storage may have been written by another registry (registry:2) since the index last read it: the gate
    // holds requests back until what they touch was checked. A brand-new index has just read everything.
    if (built) await gate.markChecked(buildStarted);
    else if (reconcile === 'before') {
      const checkStarted = Date.now();
      await reconcileIndex(storage, index, logger);
      await gate.markChecked(checkStarted);
    }
    markStartup(built ? 'index built' : 'index opened');
  } catch (error) {
    await backend.close();
    opened.close();
    throw error;
  }
  // The pull-through cache (and undici, its HTTP client) is loaded only when configured.
  const pullThrough = pullThroughSettings
    ? (await import('../upstream/pull-through.ts')).createPullThrough(pullThroughSettings, { storage, index, indexFile: indexFile(dataDir), logger, metrics: metrics?.registry ?? new PromRegistry(), dataDir })
    : undefined;
  const inner: UseCaseDecorators = pullThrough?.decorators ?? {};
  const outer = decorateUseCases?.(index);
  const decorators: UseCaseDecorators = {
    ...inner,
    ...(outer?.manifests ? { manifests: (m) => outer.manifests!(inner.manifests ? inner.manifests(m) : m) } : {}),
    ...(outer?.blobs ? { blobs: (b) => outer.blobs!(inner.blobs ? inner.blobs(b) : b) } : {}),
  };
  const servedIndex = gatedByStorageCheck(index, gate);
  const adopting = adoptingFromStorage(servedIndex, storage, logger);
  const registry = new Registry(
    {
      storage,
      index: decorateIndex ? decorateIndex(adopting) : adopting,
      clock: { now: () => new Date() },
      options: { ...DEFAULT_REGISTRY_OPTIONS, ...options },
    },
    decorators,
  );
  const probes = {
    storage: async () => void (await driver.list(ROOT)),
    index: async () => void (await index.repositoryExists('pier-readiness-probe')),
  };
  return {
    registry,
    storage,
    index,
    eventLog: backend.eventLog,
    indexBackend: backend,
    gate,
    servedIndex,
    probes,
    close: async () => {
      gate.stop();
      await pullThrough?.close();
      await backend.close();
      opened.close();
    },
  };
}
