/**
 * The HTTP server: node:http, one route table, one error mapping. Every response carries the API version
 * header and a request id; every request is logged once when it ends. Nothing here knows registry rules.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { Registry } from '../registry/registry.ts';
import { RegistryError } from '../registry/errors.ts';
import { matchRoute } from './route-table.ts';
import { sendError } from './error-mapping.ts';
import { uploadRange } from './routes/uploads.ts';

export interface HttpServerOptions {
  registry: Registry;
  logger: Logger;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function createHttpServer({ registry, logger }: HttpServerOptions): Server {
  const server = createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
    void handle(req, res, registry, logger);
  });
  server.timeout = 5 * 60_000; // an idle socket (no bytes either way) is closed after 5 minutes
  return server;
}

async function handle(req: IncomingMessage, res: ServerResponse, registry: Registry, logger: Logger): Promise<void> {
  const started = process.hrtime.bigint();
  const header = req.headers['x-request-id'];
  const requestId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  res.setHeader('X-Request-ID', requestId);
  const method = req.method ?? 'GET';
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  let routeId = 'unknown';
  let failure: unknown;

  res.on('finish', () => {
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    const entry = { requestId, method, route: routeId, status: res.statusCode, durationMs: Math.round(durationMs * 100) / 100 };
    if (res.statusCode >= 500) logger.error({ ...entry, err: failure }, 'request failed');
    else logger.info(entry, 'request');
  });

  try {
    let path: string;
    try {
      path = decodeURIComponent(q === -1 ? raw : raw.slice(0, q));
    } catch {
      throw new RegistryError('NAME_INVALID', 'malformed percent-encoding in the request path');
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
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    await match.handler({ req, res, query, params: match.params, registry });
  } catch (error) {
    if (!RegistryError.is(error)) failure = error;
    if (isClientGone(error, res)) {
      res.destroy();
      return;
    }
    sendError(res, error, hintHeaders(error));
  }
}

/** Response headers a domain error asks for (e.g. the current upload size with a 416). */
function hintHeaders(error: unknown): Record<string, string> {
  if (!RegistryError.is(error)) return {};
  const headers: Record<string, string> = {};
  if (typeof error.hints.size === 'number') headers.Range = uploadRange(error.hints.size);
  if (typeof error.hints.contentRange === 'string') headers['Content-Range'] = error.hints.contentRange;
  return headers;
}

function isClientGone(error: unknown, res: ServerResponse): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return res.destroyed || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR';
}

function sendNotFound(res: ServerResponse): void {
  const body = JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: 'no such endpoint', detail: null }] });
  res.writeHead(404, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
