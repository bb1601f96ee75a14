/**
 * A local HTTP receiver for event deliveries: records every request (method, path, headers, exact body,
 * arrival time) and answers as told — a status, a delay, a redirect — or refuses connections while "down".
 * Listens on a free port of the given loopback address; stopped by `close()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

export type Answer = { status?: number; delayMs?: number; location?: string; body?: string };

export interface Receiver {
  url: string;
  port: number;
  received: ReceivedRequest[];
  /** How to answer a request (default 200). */
  answer: (req: ReceivedRequest) => Answer;
  /** Resolves with the requests matching `predicate` once there are at least `count`; rejects after timeoutMs. */
  waitFor(predicate: (r: ReceivedRequest) => boolean, count?: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stops listening (connections are refused) until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(host = '127.0.0.1', fixedPort = 0): Promise<Receiver> {
  let server: Server | undefined;
  let port = fixedPort;
  const sockets = new Set<import('node:net').Socket>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    answer: () => ({}),
    async waitFor(predicate, count = 1, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const matching = receiver.received.filter(predicate);
        if (matching.length >= count) return matching;
        if (Date.now() > deadline) throw new Error(`receiver: ${matching.length} of ${count} expected requests after ${timeoutMs} ms (got ${receiver.received.length} in all)`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async down() {
      if (!server) return;
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async up() {
      if (server) return;
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const entry: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
          receiver.received.push(entry);
          const answer = receiver.answer(entry);
          const send = (): void => {
            res.writeHead(answer.status ?? 200, answer.location ? { Location: answer.location } : {});
            res.end(answer.body ?? '');
          };
          if (answer.delayMs) setTimeout(send, answer.delayMs);
          else send();
        });
      });
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      receiver.port = port;
      receiver.url = `http://${host}:${port}`;
    },
    close: () => receiver.down(),
  };
  await receiver.up();
  return receiver;
}
