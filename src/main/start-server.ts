/** Starts a Pier server: open the registry, listen, and close everything cleanly on request. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createHttpServer } from '../http/server.ts';
import { openRegistry, type OpenRegistry } from './open-registry.ts';
import type { Logger } from '../observability/logger.ts';
import type { RegistryOptions } from '../registry/context.ts';
import type { ListenAddress } from '../config/listen-address.ts';

export interface StartOptions {
  dataDir: string;
  listen: ListenAddress;
  logger: Logger;
  registry?: Partial<RegistryOptions>;
}

export interface RunningServer {
  server: Server;
  opened: OpenRegistry;
  port: number;
  /** Stops accepting connections, waits for in-flight requests, closes the index. */
  close(): Promise<void>;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const opened = await openRegistry(options);
  const server = createHttpServer({ registry: opened.registry, logger: options.logger });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    server,
    opened,
    port,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await opened.close();
      })();
      return closing;
    },
  };
}
