/**
 * Composition of automated builds: the build store on the index file, the queue and its worker, the
 * builders (built-in always; buildah when installed), repository links fed by a tag-observing index
 * decorator, and the HTTP pieces (admin resource, trigger URLs and source webhooks).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Logger } from '../observability/logger.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import type { Registry } from '../registry/registry.ts';
import { SqliteBuildStore } from '../builds/queue/sqlite-build-store.ts';
import { BuildQueue } from '../builds/queue/build-queue.ts';
import { RegistryImageStore } from '../builds/images/registry-image-store.ts';
import { BuiltinBuilder } from '../builds/builtin/builtin-builder.ts';
import { BuildahBuilder } from '../builds/buildah/buildah-builder.ts';
import { BaseLinks } from '../builds/links/base-links.ts';
import { observeTagPushes, type TagListener } from '../builds/links/tag-observer.ts';
import { LoggingBuildEvents, type BuildEvents } from '../builds/build-events.ts';
import { Builds } from '../builds/builds.ts';
import { withBuildMetrics } from '../builds/build-metrics.ts';
import type { Registry as PromRegistry } from 'prom-client';
import { runBuild } from '../builds/run-build.ts';
import { removeArchive } from '../builds/archive-source.ts';
import type { BuildDefinition } from '../builds/model/definition.ts';
import { buildsAdminResource } from '../http/admin/builds-api.ts';
import { createBuildHooks, type BuildHooks } from '../http/builds/build-hooks.ts';
import type { AdminResource } from '../http/admin/admin-api.ts';

export interface BuildSettings {
  concurrency: number;
  timeoutMs: number;
  /** Git hosts (host or host:port) definitions may name; empty: any. */
  sourceHosts?: string[];
  /** Host names (host[:port]) that mean this registry in FROM lines. */
  registryHosts: string[];
  /** Scratch folder for builds (default: <data>/pier/builds). */
  workDir?: string;
  /** Definitions from the config file. */
  definitions: BuildDefinition[];
  /** Lease of a running build; it is requeued this long after its process died (default 10 s). */
  leaseMs?: number;
  /** Where build events go (default: the log). */
  events?: BuildEvents;
}

export interface StartedBuilds {
  builds: Builds;
  hooks: BuildHooks;
  adminResource: AdminResource;
  /** Call once the server listens: adds its own address to the registry host names and starts the worker. */
  start(ownHost: string): Promise<void>;
  stop(): Promise<void>;
}

/** The index decorator must wrap the index before the registry exists; the rest is wired after. */
export function prepareBuilds(logger: Logger): { decorateIndex: (index: MetadataIndex) => MetadataIndex; finish: (registry: Registry, indexFile: string, dataDir: string, settings: BuildSettings, metrics?: PromRegistry) => StartedBuilds } {
  let listener: TagListener | undefined;
  return {
    decorateIndex: (index) => observeTagPushes(index, () => listener, logger),
    finish(registry, indexFile, dataDir, settings, metrics) {
      const store = SqliteBuildStore.open(indexFile);
      const images = new RegistryImageStore(registry);
      const hosts = [...settings.registryHosts.map((h) => h.toLowerCase())];
      const plainEvents = settings.events ?? new LoggingBuildEvents(logger);
      const events = metrics ? withBuildMetrics(plainEvents, metrics, store) : plainEvents;
      const builtin = new BuiltinBuilder(images, () => hosts);
      const buildahInstalled = spawnSync('buildah', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
      const buildah = buildahInstalled ? new BuildahBuilder(images, () => hosts) : undefined;
      const workRoot = settings.workDir ?? join(dataDir, 'pier', 'builds');
      const archives = join(dataDir, 'pier', 'build-contexts');
      mkdirSync(workRoot, { recursive: true });
      let queue: BuildQueue;
      const links = new BaseLinks(store, images, events, logger, () => queue.wake());
      queue = new BuildQueue(store, (build, workDir, log, signal) => runBuild(build, workDir, { store, images, links, builtin, archives, sourceHosts: settings.sourceHosts ?? [], ...(buildah ? { buildah } : {}) }, log, signal), events, logger, {
        concurrency: settings.concurrency,
        timeoutMs: settings.timeoutMs,
        leaseMs: settings.leaseMs ?? 10_000,
        pollMs: 1000,
        workRoot,
        onFinished: async (build) => {
          if (build.archive) await removeArchive(archives, build.archive.id);
        },
      });
      const builds = new Builds(store, queue, settings.sourceHosts ?? [], archives);
      let ownBase = '';
      return {
        builds,
        hooks: createBuildHooks(builds),
        adminResource: buildsAdminResource(builds, (id, token) => `${ownBase}/api/build/v1/source/${id}/trigger/${token}/call/`),
        async start(ownHost) {
          ownBase = `http://${ownHost}`;
          if (!hosts.includes(ownHost.toLowerCase())) hosts.push(ownHost.toLowerCase());
          await builds.syncConfigDefinitions(settings.definitions);
          listener = (repository, tag, pushedBy) => links.tagPushed(repository, tag, pushedBy);
          if (!buildahInstalled) logger.info('buildah is not installed: Dockerfiles with RUN cannot be built (Debian package buildah)');
          queue.start();
        },
        async stop() {
          listener = undefined;
          await queue.stop();
          await store.close();
        },
      };
    },
  };
}
