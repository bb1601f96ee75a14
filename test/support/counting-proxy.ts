/**
 * A small HTTP reverse proxy in front of an upstream registry, for pull-through tests: it counts every
 * request, and can misbehave on demand — refuse connections (the upstream is down), accept them and never
 * answer (a stall), answer 429, corrupt one blob's bytes, or slow blob bodies down to a given rate.
 */
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ProxyMode = 'pass' | 'refuse' | 'stall' | 'rate-limit';

export interface CountingProxy {
  readonly url: string;
  readonly host: string;
  readonly requests: Array<{ method: string; path: string }>;
  /** Requests whose method is `method` and whose path matches `path`. */
  count(method: string, path: RegExp): number;
  setMode(mode: ProxyMode): Promise<void>;
  /** Flip a byte in the middle of this blob's body while set. */
  corrupt: Set<string>;
  /** Blob bodies are sent at about this many bytes per second (undefined: as fast as possible). */
  blobRate: number | undefined;
  /** Blob bodies stop (the connection stays open, silent) after this many bytes. */
  stallBlobsAfter: number | undefined;
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let mode: ProxyMode = 'pass';
  const requests: Array<{ method: string; path: string }> = [];
  const state = { corrupt: new Set<string>(), blobRate: undefined as number | undefined, stallBlobsAfter: undefined as number | undefined };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/' });
    if (mode === 'stall') return; // accepted, never answered
    if (mode === 'rate-limit') {
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '30' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit","detail":null}]}');
      return;
    }
    const forward = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
      (upstreamRes) => void relay(req, upstreamRes, res),
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  };

  const relay = async (req: IncomingMessage, upstreamRes: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
    const blob = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const corrupt = blob !== undefined && state.corrupt.has(blob);
    const rate = blob !== undefined ? state.blobRate : undefined;
    const stallAfter = blob !== undefined && req.method === 'GET' ? state.stallBlobsAfter : undefined;
    const length = Number(upstreamRes.headers['content-length'] ?? 0);
    let offset = 0;
    const started = Date.now();
    try {
      for await (const chunk of upstreamRes as AsyncIterable<Buffer>) {
        let out = chunk;
        const middle = Math.floor(length / 2);
        if (corrupt && middle >= offset && middle < offset + chunk.length) {
          out = Buffer.from(chunk);
          out[middle - offset] = out[middle - offset]! ^ 0xff;
        }
        if (stallAfter !== undefined && offset + out.length > stallAfter) {
          res.write(out.subarray(0, Math.max(0, stallAfter - offset)));
          upstreamRes.destroy();
          return; // silent from here on; the socket is dropped when the mode changes or the proxy closes
        }
        offset += chunk.length;
        if (!res.write(out)) await new Promise((resolve) => res.once('drain', resolve));
        if (rate !== undefined) {
          const due = started + (offset / rate) * 1000;
          if (due > Date.now()) await sleep(due - Date.now());
        }
      }
      res.end();
    } catch {
      res.destroy();
    }
  };

  let server: Server = createServer(handle);
  const listen = async (port: number): Promise<number> => {
    server = createServer(handle);
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return (server.address() as { port: number }).port;
  };
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  const port = await listen(0);
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && path.test(r.path)).length,
    async setMode(next) {
      if (next === mode) return;
      if (mode === 'refuse') await listen(port);
      else if (next === 'refuse') await stop();
      if (next !== 'refuse' && mode !== 'refuse' && next === 'pass') for (const socket of sockets) socket.destroy(); // drop stalled requests
      mode = next;
    },
    get corrupt() {
      return state.corrupt;
    },
    get blobRate() {
      return state.blobRate;
    },
    set blobRate(rate) {
      state.blobRate = rate;
    },
    get stallBlobsAfter() {
      return state.stallBlobsAfter;
    },
    set stallBlobsAfter(bytes) {
      state.stallBlobsAfter = bytes;
    },
    close: async () => {
      if (mode !== 'refuse') await stop();
    },
  };
}
