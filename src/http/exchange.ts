/** What a route handler gets: the request, the response, its parsed path parameters and the registry. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../registry/registry.ts';

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  /** Path parameters, already percent-decoded; validated by the handler. */
  params: { name?: string; reference?: string; digest?: string; uuid?: string };
  registry: Registry;
  /** http.accelredirect: the front proxy's internal location for the storage root; blob GETs answer with X-Accel-Redirect. */
  accelRedirect?: string;
}

export type Handler = (exchange: Exchange) => Promise<void>;

/** Sends a response without a body (or with a small one), always with Content-Length. */
export function reply(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: string | Buffer): void {
  const payload = body ?? '';
  res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

export function replyJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  reply(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}
