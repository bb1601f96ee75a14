/**
 * HTTPS listeners (HTTP/1.1 only, or HTTP/2 with HTTP/1.1 fallback) and reading the certificate files.
 * Loaded by start-server.ts only when TLS is configured.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { createRequestListener, IDLE_SOCKET_TIMEOUT_MS, SERVER_OPTIONS, type HttpServerOptions } from '../http/server.ts';
import type { TlsSettings } from '../config/serve-settings.ts';

/** A listener and how to close its connections (node:http tracks them itself; the HTTP/2 server does not). */
export interface Listener {
  server: Server | HttpsServer | Http2SecureServer;
  closeIdle(): void;
  closeAll(): void;
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

export function tlsListener(settings: TlsSettings, httpOptions: HttpServerOptions): Listener {
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
