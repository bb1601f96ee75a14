/**
 * The composition root: the only place that knows every concrete class. Builds the storage driver, the
 * metadata index and the registry from plain options, and builds a brand-new index from storage so an
 * existing data directory (Pier's or the reference registry's) is served at once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';
import { DriverRegistryStorage } from '../storage/registry-storage.ts';
import type { StorageDriver } from '../storage/contract.ts';
import { defaultSqliteFile, openIndexBackend, type IndexBackend, type IndexSettings } from './open-index.ts';
import { rebuildIndex } from '../index/rebuild.ts';
import { Registry, type BlobUseCases, type ManifestUseCases, type UseCaseDecorators } from '../registry/registry.ts';
import { DEFAULT_REGISTRY_OPTIONS, type RegistryOptions } from '../registry/context.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import type { EventLog } from '../events/event-log.ts';
import type { Logger } from '../observability/logger.ts';
import { instrument, type Metrics } from '../observability/metrics.ts';
import { ROOT } from '../storage/layout.ts';
import { Registry as PromRegistry } from 'prom-client';
import { createPullThrough } from '../upstream/pull-through.ts';
import type { PullThroughSettings } from '../upstream/upstream-settings.ts';

export interface OpenOptions {
  dataDir: string;
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
}

export interface OpenRegistry {
  registry: Registry;
  storage: DriverRegistryStorage;
  index: MetadataIndex;
  /** Deliveries and webhooks of events, in the index's database. */
  eventLog: EventLog;
  /** The index's backend: its token store and, for shared databases, the job lease. */
  indexBackend: IndexBackend;
  /** Cheap checks that storage and index answer, for readiness. */
  probes: Record<string, () => Promise<void>>;
  close(): Promise<void>;
}

export const indexFile = defaultSqliteFile;

export async function openRegistry({ dataDir, logger, metrics, registry: options, pullThrough: pullThroughSettings, index: indexSettings, decorateIndex, decorateUseCases }: OpenOptions): Promise<OpenRegistry> {
  mkdirSync(join(dataDir, 'pier'), { recursive: true });
  const rawDriver = new FilesystemDriver(dataDir);
  const backend = await openIndexBackend(indexSettings, dataDir);
  const driver: StorageDriver = metrics
    ? instrument(rawDriver, (operation, seconds, failed) => {
        metrics.storageDuration.observe({ driver: rawDriver.name, operation }, seconds);
        if (failed) metrics.storageErrors.inc({ driver: rawDriver.name, operation });
      })
    : rawDriver;
  const index: MetadataIndex = metrics
    ? instrument<MetadataIndex>(backend.index, (operation, seconds) => metrics.indexDuration.observe({ operation }, seconds))
    : backend.index;
  const storage = new DriverRegistryStorage(driver);
  try {
    await backend.buildIfNew(async () => {
      const report = await rebuildIndex(storage, index, logger);
      if (report.repositories > 0) logger.info({ ...report, skipped: report.skipped.length }, 'built the index from existing storage');
    });
  } catch (error) {
    await backend.close();
    throw error;
  }
  const pullThrough = pullThroughSettings
    ? createPullThrough(pullThroughSettings, { storage, index, indexFile: indexFile(dataDir), logger, metrics: metrics?.registry ?? new PromRegistry(), dataDir })
    : undefined;
  const inner: UseCaseDecorators = pullThrough?.decorators ?? {};
  const outer = decorateUseCases?.(index);
  const decorators: UseCaseDecorators = {
    ...inner,
    ...(outer?.manifests ? { manifests: (m) => outer.manifests!(inner.manifests ? inner.manifests(m) : m) } : {}),
    ...(outer?.blobs ? { blobs: (b) => outer.blobs!(inner.blobs ? inner.blobs(b) : b) } : {}),
  };
  const registry = new Registry(
    {
      storage,
      index: decorateIndex ? decorateIndex(index) : index,
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
    probes,
    close: async () => {
      await pullThrough?.close();
      await backend.close();
    },
  };
}
