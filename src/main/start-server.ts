/**
 * Starts a Pier server: open the registry, listen (plain HTTP, or TLS with HTTP/2 and HTTP/1.1), report ready.
 * On close (SIGTERM): report not ready, stop accepting connections, let requests in flight finish up to the
 * drain deadline, then close the index.
 *
 * TLS: certificate and key files, a minimum version, optional client-certificate verification (mTLS against
 * the http.tls.clientcas bundles), HTTP/2 offered by ALPN next to HTTP/1.1, and `reloadTls()` to re-read the
 * files for new connections without a restart (`pier serve` calls it on SIGHUP).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { createHttpServer, createRequestListener, IDLE_SOCKET_TIMEOUT_MS, SERVER_OPTIONS, type HttpServerOptions } from '../http/server.ts';
import { createRequestGate, type GateOptions } from '../http/request-gate.ts';
import { openRegistry, type OpenRegistry } from './open-registry.ts';
import type { IndexSettings } from './open-index.ts';
import type { Logger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { Health } from '../observability/health.ts';
import type { RegistryOptions } from '../registry/context.ts';
import type { ListenAddress } from '../config/listen-address.ts';
import type { TlsSettings } from '../config/serve-settings.ts';
import { createAccessControl, type AccessConfig, type AccessControl } from '../auth/access-control.ts';
import { startMaintenance, type MaintenanceOptions } from '../jobs/maintenance.ts';
import { ApiTokens } from '../auth/api-tokens/api-tokens.ts';
import type { ApiTokenStore } from '../auth/api-tokens/api-tokens.ts';
import { createAdminApi } from '../http/admin/admin-api.ts';
import type { EventsSettings } from '../events/events-settings.ts';
import type { EventPublisher } from '../events/publish.ts';
import type { Dispatcher } from '../events/delivery/dispatcher.ts';
import { wireEvents } from './wire-events.ts';
import { webhooksResource } from '../http/admin/webhooks.ts';
import { deliveriesResource } from '../http/admin/deliveries.ts';
import { callbacksResource } from '../http/admin/callbacks.ts';
import type { PullThroughSettings } from '../upstream/upstream-settings.ts';

export interface StartOptions {
  dataDir: string;
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
  /** Background jobs (upload purging, scheduled GC); stopped before the index closes. */
  maintenance?: MaintenanceOptions;
  /** The notifications section: events, their delivery, webhooks. Absent: events recorded, no endpoints. */
  events?: EventsSettings;
  /** The metadata index (index section); SQLite in the data directory when absent. */
  index?: IndexSettings;
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

/** A listener and how to close its connections (node:http tracks them itself; the HTTP/2 server does not). */
interface Listener {
  server: Server | HttpsServer | Http2SecureServer;
  closeIdle(): void;
  closeAll(): void;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const metrics = new Metrics();
  const events = wireEvents(options.events ?? DEFAULT_EVENTS, options.logger, options.listen.port, metrics);
  const opened = await openRegistry({ ...options, metrics, decorateIndex: events.decorateIndex, decorateUseCases: events.decorateUseCases });
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
  let tokenStore: ApiTokenStore | undefined;
  let apiTokens: ApiTokens;
  try {
    tokenStore = await opened.indexBackend.openTokenStore();
    apiTokens = new ApiTokens(tokenStore);
    accessControl = options.access ? await createAccessControl(options.access, options.logger, apiTokens) : undefined;
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
      ...(needsGate ? { gate: createRequestGate(gateOptions) } : {}),
      admin: createAdminApi({
        logger: options.logger,
        apiTokens,
        index: opened.index,
        quotas: options.registry?.quotas ?? [],
        ...(accessControl ? { access: accessControl } : {}),
        resources: [
          webhooksResource({ eventLog: opened.eventLog, index: opened.index, policy: events.policy, source: events.source, changed: wake }),
          deliveriesResource(opened.eventLog, wake),
          callbacksResource(opened.eventLog, secretOf, wake),
        ],
      }),
    };
    listener = options.tls ? tlsListener(options.tls, httpOptions) : plainListener(httpOptions);
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', reject);
      listener.server.listen(options.listen.port, options.listen.host, () => {
        listener.server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await events.stop();
    await tokenStore?.close();
    await opened.close();
    throw error;
  }
  const { server } = listener;
  const maintenance = options.maintenance
    ? startMaintenance(opened.storage, opened.index, options.logger, metrics, {
        ...options.maintenance,
        ...(opened.indexBackend.jobLease ? { lease: opened.indexBackend.jobLease } : {}),
      })
    : undefined;
  health.state = 'ready';
  const port = (server.address() as AddressInfo).port;
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
    reloadTls() {
      if (!options.tls) return;
      (server as HttpsServer).setSecureContext(readTlsFiles(options.tls));
    },
    close() {
      closing ??= (async () => {
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

/** Reads the certificate, key and client CA files; the error names the file that failed. */
export function readTlsFiles(settings: TlsSettings): SecureContextOptions {
  const read = (file: string, what: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read the TLS ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return {
    cert: read(settings.certificateFile, 'certificate'),
    key: read(settings.keyFile, 'key'),
    ...(settings.clientCAFiles.length > 0 ? { ca: settings.clientCAFiles.map((f) => read(f, 'client CA bundle')) } : {}),
    minVersion: settings.minVersion,
  };
}

function tlsListener(settings: TlsSettings, httpOptions: HttpServerOptions): Listener {
  const requestListener = createRequestListener(httpOptions);
  const tlsOptions = {
    ...readTlsFiles(settings),
    ...(settings.clientCAFiles.length > 0 ? { requestCert: true, rejectUnauthorized: true } : {}),
  };
  if (!settings.http2) {
    const server = createHttpsServer({ ...tlsOptions, ...SERVER_OPTIONS }, requestListener);
    server.timeout = IDLE_SOCKET_TIMEOUT_MS;
    return { server, closeIdle: () => server.closeIdleConnections(), closeAll: () => server.closeAllConnections() };
  }

  // HTTP/2 with HTTP/1.1 fallback. Node's HTTP/2 server does not track its connections, so this does: h2
  // sessions are closed gracefully (GOAWAY, streams in flight finish); an HTTP/1.1 socket is closed when idle,
  // and a busy one closes itself after its response (server.ts stops keep-alive while draining).
  const sessions = new Set<Http2Session>();
  const http1Sockets = new Map<Socket, number>(); // socket → requests in flight
  let draining = false;
  const server = createSecureServer({ ...tlsOptions, allowHTTP1: true }, ((req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TLSSocket;
    if (req.httpVersionMajor < 2) {
      http1Sockets.set(socket, (http1Sockets.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const left = (http1Sockets.get(socket) ?? 1) - 1;
        if (http1Sockets.has(socket)) http1Sockets.set(socket, left);
        if (draining && left === 0) socket.destroy();
      });
    }
    requestListener(req, res);
  }) as never);
  server.setTimeout(IDLE_SOCKET_TIMEOUT_MS);
  // HTTP/1.1 connections on this server follow the same limits as on the plain one (no overall request
  // timeout: a large blob upload may take long).
  Object.assign(server, SERVER_OPTIONS);
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1Sockets.set(socket, 0);
    socket.once('close', () => http1Sockets.delete(socket));
  });
  return {
    server,
    closeIdle() {
      draining = true;
      for (const session of sessions) session.close();
      for (const [socket, inFlight] of http1Sockets) if (inFlight === 0) socket.destroy();
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of http1Sockets.keys()) socket.destroy();
    },
  };
}
