/**
 * Starts a Pier server: open the registry, listen, report ready. On close (SIGTERM): report not ready,
 * stop accepting connections, let requests in flight finish up to the drain deadline, then close the index.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createHttpServer } from '../http/server.ts';
import { openRegistry, type OpenRegistry } from './open-registry.ts';
import type { Logger } from '../observability/logger.ts';
import { Metrics } from '../observability/metrics.ts';
import { Health } from '../observability/health.ts';
import type { RegistryOptions } from '../registry/context.ts';
import type { ListenAddress } from '../config/listen-address.ts';

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
}

export interface RunningServer {
  server: Server;
  opened: OpenRegistry;
  metrics: Metrics;
  health: Health;
  port: number;
  /** Drains and stops; resolves when everything is closed. */
  close(): Promise<void>;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const metrics = new Metrics();
  const opened = await openRegistry({ ...options, metrics });
  const health = new Health(opened.probes);
  const server = createHttpServer({ registry: opened.registry, logger: options.logger, metrics, health });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
    close() {
      closing ??= (async () => {
        health.state = 'draining';
        if (options.shutdownDelayMs) await new Promise((resolve) => setTimeout(resolve, options.shutdownDelayMs));
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), drainTimeoutMs).unref());
        if ((await Promise.race([closed, deadline])) === 'timeout') {
          options.logger.warn({ drainTimeoutMs }, 'drain deadline passed: closing remaining connections');
          server.closeAllConnections();
          await closed;
        }
        await opened.close();
      })();
      return closing;
    },
  };
}
