/**
 * Serves the web UI's built files (web/dist, made by `npm run build:web` at install) under a configured
 * path. Only the files found at start are served — a fixed list, so no request path ever reaches the file
 * system — with a strict Content-Security-Policy (everything from this origin; nothing from a CDN),
 * long caching for content-hashed assets and none for index.html. The UI uses hash routes, so the path
 * itself is the only page.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';

/**
 * Where `npm run build:web` puts the UI: `web/dist` of the package, reached from this module under tsx
 * (src/web/) and from the bundle (dist/pier.cjs).
 */
export function defaultWebRoot(): string {
  const candidates = ['../../web/dist/', '../web/dist/'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]!;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

export interface WebSite {
  /** Serves the request if it is one of the UI's files; returns its route id, or undefined. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): string | undefined;
  /** False when the UI was not built (the path then answers a line saying how to build it). */
  readonly built: boolean;
}

/** `path`: where the UI lives ('/' or '/ui/'); `root`: the built files. */
export function createWebSite(path: string, root: string = defaultWebRoot()): WebSite {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  const files = new Map<string, StaticFile>();
  if (existsSync(join(root, 'index.html'))) {
    for (const file of walk(root)) {
      const name = relative(root, file).split(sep).join('/');
      const body = readFileSync(file);
      const ext = /\.[a-z0-9]+$/i.exec(name)?.[0]?.toLowerCase() ?? '';
      files.set(name, {
        body,
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        immutable: name.startsWith('assets/'),
      });
    }
  }
  const built = files.has('index.html');
  return {
    built,
    serve(req, res, requestPath) {
      const method = req.method ?? 'GET';
      let name: string;
      if (requestPath === prefix || requestPath === prefix.slice(0, -1)) name = 'index.html';
      else if (requestPath.startsWith(prefix)) name = requestPath.slice(prefix.length);
      else return undefined;
      if (requestPath === prefix.slice(0, -1) && prefix !== '/') {
        res.writeHead(308, { Location: prefix, 'Content-Length': 0 });
        res.end();
        return 'web';
      }
      if (!built && name === 'index.html') {
        const text = 'The web UI is not built: run `npm run build:web` (npm install does it).\n';
        // 200, as the reference registry answers `/`: load balancers probe it.
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
        return 'web';
      }
      const file = files.get(name);
      if (!file) return undefined;
      if (method !== 'GET' && method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
        res.end();
        return 'web';
      }
      const headers = {
        ...SECURITY_HEADERS,
        'Content-Type': file.type,
        ETag: file.etag,
        'Cache-Control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      };
      if (req.headers['if-none-match'] === file.etag) {
        res.writeHead(304, headers);
        res.end();
        return 'web';
      }
      res.writeHead(200, { ...headers, 'Content-Length': file.body.length });
      res.end(file.body);
      return 'web';
    },
  };
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) yield* walk(full);
    else yield full;
  }
}
