/**
 * The load generator's HTTP client: node:http with keep-alive agents, bodies streamed from buffers with
 * back-pressure, responses either collected or only counted. Every unexpected status becomes an HttpError
 * that carries what a bug report needs (method, URL, status, the start of the body).
 */
import http from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly expected: number[],
    readonly body: string,
    readonly headers: http.IncomingHttpHeaders,
  ) {
    super(`${method} ${url} answered ${status}, expected ${expected.join(' or ')}: ${body.slice(0, 600) || '(empty body)'}`);
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body when collected, else empty. */
  body: Buffer;
  /** Body bytes received. */
  bytes: number;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Sent as it is; an array is written part by part, waiting for 'drain' between parts. */
  body?: Buffer | Buffer[];
  /** Accepted statuses; anything else rejects with HttpError. Default: any status. */
  expect?: number | number[];
  /** Keep the body (default true); false only counts its bytes. */
  collect?: boolean;
  agent?: http.Agent | false;
  /** Idle socket timeout; default 120 s. */
  timeoutMs?: number;
}

/**
 * `timeout` closes a kept socket after 10 s idle (the agent applies it to free sockets only), well before a
 * server's keep-alive timeout (Pier 30 s, the reference longer): otherwise a request sent on a socket the
 * server closes at that very moment fails with "socket hang up" between two workloads.
 */
export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'fifo', timeout: 10_000 });
}

/** One request. `url` is absolute, or a path resolved against `base`. */
export function request(base: string, url: string, options: RequestOptions = {}): Promise<Reply> {
  const target = new URL(url, base);
  const method = options.method ?? 'GET';
  const collect = options.collect ?? true;
  const expected = options.expect === undefined ? undefined : Array.isArray(options.expect) ? options.expect : [options.expect];
  const parts = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body];
  const headers: Record<string, string | number> = { ...options.headers };
  if (options.body !== undefined) headers['Content-Length'] = parts.reduce((sum, part) => sum + part.length, 0);
  else if (method === 'PUT' || method === 'POST' || method === 'PATCH') headers['Content-Length'] ??= 0;

  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method,
        headers,
        agent: options.agent ?? undefined,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        // Keep a failure's body even when the caller only counts bytes: it goes into the report.
        const keep = collect || (expected !== undefined && !expected.includes(res.statusCode ?? 0));
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (keep && (collect || bytes <= 4096)) chunks.push(chunk);
        });
        res.once('error', reject);
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          const body = keep ? Buffer.concat(chunks) : Buffer.alloc(0);
          if (expected !== undefined && !expected.includes(status)) {
            reject(new HttpError(method, target.href, status, expected, body.toString('utf8'), res.headers));
            return;
          }
          resolve({ status, headers: res.headers, body: collect ? body : Buffer.alloc(0), bytes });
        });
      },
    );
    req.once('error', (error) => reject(new Error(`${method} ${target.href}: ${error.message}`, { cause: error })));
    const timeoutMs = options.timeoutMs ?? 120_000;
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no bytes for ${timeoutMs} ms`)));
    void writeParts(req, parts);
  });
}

async function writeParts(req: http.ClientRequest, parts: Buffer[]): Promise<void> {
  for (const part of parts) {
    if (req.destroyed) return;
    if (!req.write(part)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          req.off('drain', done);
          req.off('close', done);
          resolve();
        };
        req.on('drain', done);
        req.on('close', done);
      });
    }
  }
  if (!req.destroyed) req.end();
}

/** A header's single value ('' when absent). */
export function header(reply: Reply, name: string): string {
  const value = reply.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/** The `next` target of a `Link: <…>; rel="next"` header, or undefined. */
export function nextLink(reply: Reply): string | undefined {
  const link = header(reply, 'link');
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return match?.[1];
}
