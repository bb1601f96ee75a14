/**
 * The HTTP server: node:http, one route table, one error mapping. Every response carries the API version
 * header and a request id; every request is logged once when it ends and counted in the metrics.
 * Operational endpoints (/metrics, /healthz, /readyz) sit beside the /v2 API. Nothing here knows
 * registry rules.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Health } from '../observability/health.ts';
import type { Registry } from '../registry/registry.ts';
import { RegistryError } from '../registry/errors.ts';
import { matchRoute } from './route-table.ts';
import { sendError } from './error-mapping.ts';
import { uploadRange } from './routes/uploads.ts';
import { reply, replyJson } from './exchange.ts';
import { answerClientErrors } from './client-errors.ts';
import type { RequestGate } from './request-gate.ts';
import type { AdminHandler } from './admin/admin-api.ts';
import type { BuildHooks } from './builds/build-hooks.ts';
import { runInRequestScope, type RequestFacts } from '../events/request-context.ts';

export interface HttpServerOptions {
  registry: Registry;
  logger: Logger;
  metrics: Metrics;
  health: Health;
  /** Authentication, authorization, read-only mode, configured headers, the token endpoint; absent when open. */
  gate?: RequestGate;
  /** The admin API under /pier/api/ (it authenticates on its own). */
  admin?: AdminHandler;
  /** The web UI's files (returns a route id when it served the request). */
  web?: (req: IncomingMessage, res: ServerResponse, path: string) => string | undefined;
  /** Told about every /v2 request when it has ended (the activity record: who pushed, when pulled). */
  onExchangeEnd?: (event: ExchangeEnd) => void;
  /** http.accelredirect.prefix when enabled (see routes/blobs.ts). */
  accelRedirect?: string;
  /** Build trigger URLs and source webhooks (each request carries its own secret). */
  buildHooks?: BuildHooks;
}

export interface ExchangeEnd {
  routeId: string;
  method: string;
  status: number;
  params: Record<string, string>;
  req: IncomingMessage;
  res: ServerResponse;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const UPLOAD_ROUTES = new Set(['upload', 'upload-start']);
const socketPositions = new WeakMap<object, { read: number; written: number }>();

/** Options every listener (HTTP, HTTPS) is created with. */
export const SERVER_OPTIONS = { keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 } as const;
/** An idle socket (no bytes either way) is closed after 5 minutes. */
export const IDLE_SOCKET_TIMEOUT_MS = 5 * 60_000;

export function createHttpServer(options: HttpServerOptions): Server {
  const server = createServer(SERVER_OPTIONS, createRequestListener(options));
  server.timeout = IDLE_SOCKET_TIMEOUT_MS;
  answerClientErrors(server);
  return server;
}

/** The request handler, for main/ to mount on an HTTPS listener. */
export function createRequestListener(options: HttpServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => void handle(req, res, options);
}

/** Serves the request inside a scope holding what events caused by it report about it (events/request-context.ts). */
function handle(req: IncomingMessage, res: ServerResponse, options: HttpServerOptions): Promise<void> {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  const socket = req.socket;
  const facts: RequestFacts = {
    id: '', // set by serve() once the request id is known
    addr: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? ''}`,
    host: req.headers.host ?? String(req.headers[':authority'] ?? ''),
    method: req.method ?? 'GET',
    useragent: req.headers['user-agent'] ?? '',
    scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)),
  };
  return runInRequestScope(facts, () => serve(req, res, options, facts));
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  { registry, logger, metrics, health, gate, admin, accelRedirect, buildHooks, web, onExchangeEnd }: HttpServerOptions,
  facts: RequestFacts,
): Promise<void> {
  const started = process.hrtime.bigint();
  const socket = req.socket;
  // Counted per connection from where the previous request on it ended: by the time this handler runs,
  // the socket has already read this request's headers and often the first part of its body.
  const previous = socketPositions.get(socket) ?? { read: 0, written: 0 };
  const header = req.headers['x-request-id'];
  const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  res.setHeader('X-Request-ID', requestId);
  facts.id = requestId;
  if (health.state === 'draining') res.shouldKeepAlive = false;
  const method = req.method ?? 'GET';
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  let routeId = 'unknown';
  let failure: unknown;
  let uploading = false;
  let v2Params: Record<string, string> | undefined;

  res.once('close', () => {
    if (uploading) metrics.uploadsInProgress.dec();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = res.writableFinished ? res.statusCode : 499; // 499: the client went away first
    metrics.requests.inc({ route: routeId, method, status });
    metrics.requestDuration.observe({ route: routeId, method }, seconds);
    const now = { read: socket.bytesRead, written: socket.bytesWritten };
    socketPositions.set(socket, now);
    metrics.bytesReceived.inc({ route: routeId }, Math.max(0, now.read - previous.read));
    metrics.bytesSent.inc({ route: routeId }, Math.max(0, now.written - previous.written));
    const entry = { requestId, method, route: routeId, status, durationMs: Math.round(seconds * 1e5) / 100 };
    if (status === 507) metrics.storageFull.inc();
    if (status >= 500 && status !== 499) logger.error({ ...entry, err: failure, ...storageFullDetail(failure) }, 'request failed');
    else logger.info(entry, 'request');
    if (onExchangeEnd && v2Params) {
      try {
        onExchangeEnd({ routeId, method, status, params: v2Params, req, res });
      } catch (err) {
        logger.warn({ err }, 'recording the request failed');
      }
    }
  });

  gate?.begin(res);
  try {
    let path: string;
    try {
      path = decodeURIComponent(q === -1 ? raw : raw.slice(0, q));
    } catch {
      throw new RegistryError('NAME_INVALID', 'malformed percent-encoding in the request path');
    }
    if (!path.startsWith('/v2')) {
      if (admin && path.startsWith('/pier/api/')) {
        routeId = 'admin';
        routeId = await admin(req, res, path, new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)));
        return;
      }
      const hookRoute = buildHooks ? await buildHooks(req, res, path) : undefined;
      if (hookRoute !== undefined) {
        routeId = hookRoute;
        return;
      }
      const gateRoute = gate ? await gate.serve(req, res, path, new URLSearchParams(q === -1 ? '' : raw.slice(q + 1))) : undefined;
      routeId = gateRoute ?? web?.(req, res, path) ?? (await serveOperational(path, method, res, metrics, health));
      return;
    }
    const match = matchRoute(method, path);
    if (match.kind === 'not-found') {
      sendNotFound(res);
      return;
    }
    routeId = match.route.id;
    if (match.kind === 'method-not-allowed') {
      res.setHeader('Allow', Object.keys(match.route.methods).join(', '));
      throw new RegistryError('UNSUPPORTED', `method ${method} is not supported on this endpoint`);
    }
    if (UPLOAD_ROUTES.has(routeId) && method !== 'GET' && method !== 'DELETE') {
      uploading = true;
      metrics.uploadsInProgress.inc();
    }
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    v2Params = match.params;
    const exchange = { req, res, query, params: match.params, registry, ...(accelRedirect !== undefined ? { accelRedirect } : {}) };
    const handler = gate ? ((await gate.authorize(exchange, routeId, method)) ?? match.handler) : match.handler;
    await handler(exchange);
  } catch (error) {
    if (!RegistryError.is(error) || error.code === 'STORAGE_FULL') failure = error;
    if (isClientGone(error, res)) {
      res.destroy();
      return;
    }
    // Answered before the body was read (e.g. a full disk mid-upload): the rest of the body must not be
    // taken for the next request on this connection.
    if (!req.complete && hasBody(req)) res.shouldKeepAlive = false;
    sendError(res, error, hintHeaders(error));
  }
}

/** /metrics, /healthz and /readyz; returns the route id used in logs and metrics. */
async function serveOperational(path: string, method: string, res: ServerResponse, metrics: Metrics, health: Health): Promise<string> {
  if (method !== 'GET' && method !== 'HEAD') {
    sendNotFound(res);
    return 'unknown';
  }
  switch (path) {
    case '/metrics': {
      const { contentType, text } = await metrics.exposition();
      reply(res, 200, { 'Content-Type': contentType }, text);
      return 'metrics';
    }
    case '/healthz':
      replyJson(res, 200, { status: 'ok' });
      return 'healthz';
    case '/readyz': {
      const report = await health.readiness();
      replyJson(res, report.ready ? 200 : 503, report);
      return 'readyz';
    }
    default:
      sendNotFound(res);
      return 'unknown';
  }
}

/** Response headers a domain error asks for (e.g. the current upload size with a 416). */
function hintHeaders(error: unknown): Record<string, string> {
  if (!RegistryError.is(error)) return {};
  const headers: Record<string, string> = {};
  if (typeof error.hints.size === 'number') headers.Range = uploadRange(error.hints.size);
  if (typeof error.hints.contentRange === 'string') headers['Content-Range'] = error.hints.contentRange;
  if (typeof error.hints.challenge === 'string') headers['WWW-Authenticate'] = error.hints.challenge;
  if (typeof error.hints.retryAfter === 'number') headers['Retry-After'] = String(error.hints.retryAfter);
  return headers;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A full disk's log line names the file system (storage/filesystem/storage-full.ts). */
function storageFullDetail(error: unknown): Record<string, string> {
  const describe = (error as { describe?: unknown } | undefined)?.describe;
  return RegistryError.is(error) && error.code === 'STORAGE_FULL' && typeof describe === 'function' ? { storage: String(describe.call(error)) } : {};
}

function isClientGone(error: unknown, res: ServerResponse): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return res.destroyed || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

function sendNotFound(res: ServerResponse): void {
  replyJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint', detail: null }] });
}
