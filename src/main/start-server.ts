/**
 * Starts a Pier server: open the registry, listen (plain HTTP, or TLS with HTTP/2 and HTTP/1.1), report ready.
 * On close (SIGTERM): report not ready, stop accepting connections, let requests in flight finish up to the
 * drain deadline, then close the index.
 *
 * TLS: certificate and key files, a minimum version, optional client-certificate verification (mTLS against
 * the http.tls.clientcas bundles), HTTP/2 offered by ALPN next to HTTP/1.1, and `reloadTls()` to re-read the
 * files for new connections without a restart (`pier serve` calls it on SIGHUP).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Http2SecureServer } from 'node:http2';
import { createHttpServer, type HttpServerOptions } from '../http/server.ts';
import type { Listener } from './tls-listener.ts';
import type { GateOptions } from '../http/request-gate.ts';
import { join } from 'node:path';
import { indexFile, openRegistry, type OpenRegistry } from './open-registry.ts';
import type { IndexSettings } from './open-index.ts';
import type { Logger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { Health } from '../observability/health.ts';
import type { RegistryOptions } from '../registry/context.ts';
import type { ListenAddress } from '../config/listen-address.ts';
import type { TlsSettings } from '../config/serve-settings.ts';
import type { SecureContextOptions } from 'node:tls';
import type { AccessConfig, AccessControl } from '../auth/access-control.ts';
import type { StorageSelection } from '../config/storage-settings.ts';
import { startMaintenance, type MaintenanceOptions } from '../jobs/maintenance.ts';
import { ApiTokens } from '../auth/api-tokens/api-tokens.ts';
import type { ApiTokenStore } from '../auth/api-tokens/api-tokens.ts';
import { createAdminApi } from '../http/admin/admin-api.ts';
import type { GcSchedule } from '../http/admin/admin-context.ts';
import type { RetentionRule } from '../registry/gc/apply-retention.ts';
import { observeActivity } from '../http/activity-observer.ts';
import { createWebSite } from '../web/static-site.ts';
import { openWebServices, webDatabaseFile, type WebServices } from './web-services.ts';
import type { EventsSettings } from '../events/events-settings.ts';
import type { EventPublisher } from '../events/publish.ts';
import type { Dispatcher } from '../events/delivery/dispatcher.ts';
import type { MetadataIndex } from '../registry/ports.ts';
import { buildEventsThrough, wireEvents } from './wire-events.ts';
import { webhooksResource } from '../http/admin/webhooks.ts';
import { deliveriesResource } from '../http/admin/deliveries.ts';
import { callbacksResource } from '../http/admin/callbacks.ts';
import { prepareBuilds, type BuildSettings, type StartedBuilds } from './start-builds.ts';
import type { PullThroughSettings } from '../upstream/upstream-settings.ts';
import { markStartup } from '../observability/startup-trace.ts';

export interface StartOptions {
  dataDir: string;
  /** Storage driver and settings; filesystem storage in dataDir when absent. */
  storage?: StorageSelection;
  /** Redirect blob downloads to the object store when it can sign URLs. */
  redirect?: boolean;
  listen: ListenAddress;
  logger: Logger;
  registry?: Partial<RegistryOptions>;
  /** How long in-flight requests may run after a shutdown begins (default 30 s). */
  drainTimeoutMs?: number;
  /**
   * How long to keep accepting requests after a shutdown begins while /readyz already answers 503, so a
   * load balancer or Kubernetes stops routing here before the listener closes (default 0).
   */
  shutdownDelayMs?: number;
  /** Serve HTTPS (and HTTP/2 unless disabled) instead of plain HTTP. */
  tls?: TlsSettings;
  /** storage.maintenance.readonly.enabled: pulls work, every write is refused. */
  readOnly?: boolean;
  /** http.headers: added to every response. */
  headers?: Record<string, string[]>;
  /** auth and access sections: who may do what. Absent: the registry is open, as without auth in config.yml. */
  access?: AccessConfig;
  /** The `proxy` section: a pull-through cache of upstream registries. */
  pullThrough?: PullThroughSettings;
  /** http.accelredirect.prefix when enabled: blob GETs answer with X-Accel-Redirect for a front nginx. */
  accelRedirect?: string;
  /** Background jobs (upload purging, scheduled GC); stopped before the index closes. */
  maintenance?: MaintenanceOptions;
  /** The notifications section: events, their delivery, webhooks. Absent: events recorded, no endpoints. */
  events?: EventsSettings;
  /** The metadata index (index section); SQLite in the data directory when absent. */
  index?: IndexSettings;
  /** When the server (a pool: its supervisor) started, ms since the epoch (index/storage-gate.ts); default now. */
  startedAt?: number;
  /**
   * Run the reconciliation with storage in this process once listening (default true; in a pool only slot 0
   * does, the others wait for it or check what a request touches on demand).
   */
  storagePass?: boolean;
  /** A pool's workers but the first: they wait for the first to build a brand-new index. */
  waitForIndexBuilder?: boolean;
  /** Automated builds (Pier-only `builds` section); absent: disabled. */
  builds?: BuildSettings;
  /** The web UI (Pier-only `web` section; `pier serve` enables it by default): served at `path`; `root` overrides where its files are. Absent: no UI. */
  web?: { enabled: boolean; path: string; root?: string };
  /** http.host: the registry's public address (pull commands in the UI). */
  publicHost?: string;
  /** For the admin API's rules page. */
  retention?: RetentionRule[];
  gcSchedule?: GcSchedule;
}

export interface RunningServer {
  server: Server | HttpsServer | Http2SecureServer;
  opened: OpenRegistry;
  metrics: Metrics;
  health: Health;
  port: number;
  /** 'http' or 'https'. */
  scheme: 'http' | 'https';
  /** Authentication and authorization, when configured. */
  accessControl?: AccessControl;
  /** API tokens (kept in the index's database). */
  apiTokens: ApiTokens;
  /** For other modules (builds) to emit their own events. */
  events: EventPublisher;
  dispatcher: Dispatcher;
  /** Automated builds, when enabled. */
  builds?: StartedBuilds;
  /** Re-reads the TLS certificate, key and client CAs (new connections use them); throws if they cannot be read. */
  reloadTls(): void;
  /** Drains and stops; resolves when everything is closed. */
  close(): Promise<void>;
}

/** Without a notifications section: events are recorded (and pulls sampled in full), nothing is sent. */
const DEFAULT_EVENTS: EventsSettings = {
  enabled: true,
  includeReferences: false,
  pullSampleRate: 1,
  endpoints: [],
  retentionMs: 7 * 86_400_000,
  webhooks: { allow: [], deny: [], timeoutMs: 5_000, maxAttempts: 20 },
};

/**
 * The SQLite file builds keep their queue in: the index's own file, or beside it when the index is in
 * PostgreSQL (then the queue is this data directory's: run builds on one replica).
 */
function buildsFile(options: StartOptions): string {
  if (options.index?.backend === 'postgres') return join(options.dataDir, 'pier', 'builds.db');
  return options.index?.path ?? indexFile(options.dataDir);
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  markStartup('start server');
  const metrics = new Metrics();
  if (options.builds && options.readOnly) options.logger.warn('read-only mode: builds are not run');
  const buildsPrep = options.builds && !options.readOnly ? prepareBuilds(options.logger) : undefined;
  const events = wireEvents(options.events ?? DEFAULT_EVENTS, options.logger, options.listen.port, metrics);
  // Events record what the registry's writes cause; the builds' observer (when on) sees tag pushes under them.
  const decorateIndex = (index: MetadataIndex): MetadataIndex => events.decorateIndex(buildsPrep ? buildsPrep.decorateIndex(index) : index);
  markStartup('metrics and events wired');
  const opened = await openRegistry({ ...options, reconcile: 'gate', metrics, decorateIndex, decorateUseCases: events.decorateUseCases });
  markStartup('registry open');
  const { dispatcher, publisher } = events.start(opened.index, opened.eventLog);
  const wake = (): void => {
    dispatcher.refreshWebhooks();
    dispatcher.wake();
  };
  const configSecrets = new Map((options.events?.endpoints ?? []).map((e) => [`config:${e.name}`, e.secret]));
  const secretOf = async (endpoint: string): Promise<string | undefined> =>
    endpoint.startsWith('webhook:') ? (await opened.eventLog.getWebhook(endpoint.slice(8)))?.secret : configSecrets.get(endpoint);
  const health = new Health(opened.probes);
  let accessControl: AccessControl | undefined;
  let listener: Listener;
  let readTlsFiles: ((settings: TlsSettings) => SecureContextOptions) | undefined;
  let tokenStore: ApiTokenStore | undefined;
  let webServices: WebServices | undefined;
  let apiTokens: ApiTokens;
  let builds: StartedBuilds | undefined;
  try {
    builds = buildsPrep && options.builds
      ? buildsPrep.finish(opened.registry, buildsFile(options), options.dataDir, { ...options.builds, events: options.builds.events ?? buildEventsThrough(publisher) }, metrics.registry)
      : undefined;
    tokenStore = await opened.indexBackend.openTokenStore();
    apiTokens = new ApiTokens(tokenStore);
    webServices = openWebServices(webDatabaseFile(options.dataDir, options.index), options.index?.backend !== 'postgres', opened.storage, options.logger);
    const { browse, activity, sessions, gcRuns } = webServices;
    const web = options.web?.enabled ? createWebSite(options.web.path, options.web.root) : undefined;
    if (web && !web.built) options.logger.warn('the web UI is not built (npm run build:web): its path answers with a note saying so');
    // Authentication code (token signing and verification, bcrypt) is loaded only when it is configured.
    accessControl = options.access ? await (await import('../auth/access-control.ts')).createAccessControl(options.access, options.logger, apiTokens, metrics) : undefined;
    const gateOptions: GateOptions = {
      logger: options.logger,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(options.readOnly ? { readOnly: true } : {}),
      ...(accessControl ? { access: accessControl } : {}),
    };
    const needsGate = accessControl !== undefined || options.readOnly === true || Object.keys(options.headers ?? {}).length > 0;
    const httpOptions: HttpServerOptions = {
      registry: opened.registry,
      logger: options.logger,
      metrics,
      health,
      ...(options.accelRedirect !== undefined ? { accelRedirect: options.accelRedirect } : {}),
      ...(needsGate ? { gate: (await import('../http/request-gate.ts')).createRequestGate(gateOptions) } : {}),
      ...(builds ? { buildHooks: builds.hooks } : {}),
      admin: createAdminApi({
        logger: options.logger,
        apiTokens,
        index: opened.servedIndex,
        quotas: options.registry?.quotas ?? [],
        ...(accessControl ? { access: accessControl } : {}),
        registry: opened.registry,
        storage: opened.storage,
        ...(browse ? { browse } : {}),
        ...(activity ? { activity } : {}),
        gcRuns,
        sessions,
        immutableTags: options.registry?.immutableTags ?? [],
        retention: options.retention ?? [],
        ...(options.gcSchedule ? { gc: options.gcSchedule } : {}),
        ...(options.access?.access.policy ? { accessPolicy: options.access.access.policy } : {}),
        deleteEnabled: options.registry?.deleteEnabled ?? false,
        readOnly: options.readOnly === true,
        ...(options.publicHost ? { publicHost: options.publicHost } : {}),
        resources: [
          ...(builds ? [builds.adminResource] : []),
          webhooksResource({ eventLog: opened.eventLog, index: opened.index, policy: events.policy, source: events.source, changed: wake }),
          deliveriesResource(opened.eventLog, wake),
          callbacksResource(opened.eventLog, secretOf, wake),
        ],
      }),
      ...(web ? { web: (req, res, path) => web.serve(req, res, path) } : {}),
      ...(activity ? { onExchangeEnd: observeActivity(activity) } : {}),
    };
    markStartup('routes built');
    listener = options.tls ? (await import('./tls-listener.ts')).tlsListener(options.tls, httpOptions) : plainListener(httpOptions);
    markStartup('listener made');
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', reject);
      listener.server.listen(options.listen.port, options.listen.host, () => {
        listener.server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await builds?.stop();
    await webServices?.close();
    await events.stop();
    await tokenStore?.close();
    await opened.close();
    throw error;
  }
  markStartup('listen callback');
  if (options.tls) readTlsFiles = (await import('./tls-listener.ts')).readTlsFiles;
  const { server } = listener;
  if (options.storagePass !== false) {
    // PIER_STORAGE_PASS_DELAY_MS (diagnosis and tests): holds the pass back, so that what requests see
    // before it is the gate's own doing.
    const delayMs = Number(process.env.PIER_STORAGE_PASS_DELAY_MS ?? 0);
    const runPass = (): void => {
      void opened.gate.runPass().then(() => {
        if (opened.gate.isOpen) metrics.indexReconciled.set(1);
      });
    };
    if (delayMs > 0) setTimeout(runPass, delayMs).unref();
    else runPass();
  }
  // GC and retention judge what is tagged by the index: they start once it was reconciled with storage.
  let maintenance: ReturnType<typeof startMaintenance> | undefined;
  let closeBegun = false;
  const maintenanceOptions = options.maintenance;
  if (maintenanceOptions) {
    void opened.gate.whole().then(() => {
      if (closeBegun) return;
      maintenance = startMaintenance(opened.storage, opened.index, options.logger, metrics, {
        ...maintenanceOptions,
        gcRuns: webServices.gcRuns,
        ...(opened.indexBackend.jobLease ? { lease: opened.indexBackend.jobLease } : {}),
      });
    });
  }
  const port = (server.address() as AddressInfo).port;
  const listenHost = options.listen.host && options.listen.host !== '0.0.0.0' && options.listen.host !== '::' ? options.listen.host : 'localhost';
  await builds?.start(`${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${port}`);
  markStartup('builds started');
  health.state = 'ready';
  metrics.serving.set(1);
  const drainTimeoutMs = options.drainTimeoutMs ?? 30_000;
  let closing: Promise<void> | undefined;
  return {
    server,
    opened,
    metrics,
    health,
    port,
    scheme: options.tls ? 'https' : 'http',
    ...(accessControl ? { accessControl } : {}),
    apiTokens,
    events: publisher,
    dispatcher,
    ...(builds ? { builds } : {}),
    reloadTls() {
      if (!options.tls) return;
      (server as HttpsServer).setSecureContext(readTlsFiles!(options.tls));
    },
    close() {
      closing ??= (async () => {
        closeBegun = true;
        opened.gate.stop();
        health.state = 'draining';
        if (options.shutdownDelayMs) await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Connections idle now are closed at once; one whose request is still in flight becomes idle (keep-alive)
        // when its response ends, so look again until everything is closed.
        listener.closeIdle();
        const sweep = setInterval(() => listener.closeIdle(), 50);
        void closed.then(() => clearInterval(sweep));
        const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), drainTimeoutMs).unref());
        if ((await Promise.race([closed, deadline])) === 'timeout') {
          options.logger.warn({ drainTimeoutMs }, 'drain deadline passed: closing remaining connections');
          listener.closeAll();
          await closed;
        }
        clearInterval(sweep);
        await maintenance?.stop();
        await builds?.stop();
        await webServices.close();
        await events.stop();
        await tokenStore.close();
        await opened.close();
      })();
      return closing;
    },
  };
}

function plainListener(httpOptions: HttpServerOptions): Listener {
  const server = createHttpServer(httpOptions);
  return { server, closeIdle: () => server.closeIdleConnections(), closeAll: () => server.closeAllConnections() };
}

