/** `pier serve`: run the registry. Flags win over REGISTRY_* environment variables, which win over defaults. */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../main/start-server.ts';
import { parseListenAddress } from '../config/listen-address.ts';
import { resolveServeSettings } from '../config/serve-settings.ts';

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the registry API')
    .option('--addr <addr>', 'listen address, host:port or :port (env REGISTRY_HTTP_ADDR; default :5000)')
    .option('--data <dir>', 'data directory, the reference registry\'s rootdirectory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--delete', 'allow deleting manifests, tags and blobs (env REGISTRY_STORAGE_DELETE_ENABLED=true)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (env REGISTRY_LOG_LEVEL; default info)')
    .option('--drain-timeout <seconds>', 'on SIGTERM, how long requests in flight may finish (default 30)', '30')
    .option('--shutdown-delay <seconds>', 'on SIGTERM, keep serving this long with /readyz at 503 before closing the listener (default 0)', '0')
    .action(async (flags: { addr?: string; data?: string; delete?: boolean; logLevel?: string; drainTimeout: string; shutdownDelay: string }) => {
      const settings = resolveServeSettings(flags, process.env);
      const logger = createLogger(settings.logLevel);
      const listen = parseListenAddress(settings.addr);
      const drainTimeoutMs = seconds(flags.drainTimeout, '--drain-timeout');
      const shutdownDelayMs = seconds(flags.shutdownDelay, '--shutdown-delay');
      const running = await startServer({
        dataDir: settings.dataDir,
        listen,
        logger,
        registry: { deleteEnabled: settings.deleteEnabled },
        drainTimeoutMs,
        shutdownDelayMs,
      });
      const loopback = listen.host === '127.0.0.1' || listen.host === 'localhost' || listen.host === '::1';
      if (!loopback) logger.warn({ addr: settings.addr }, 'serving plain HTTP on a non-loopback address: configure TLS before exposing this registry');
      logger.info({ addr: settings.addr, port: running.port, dataDir: settings.dataDir, deleteEnabled: settings.deleteEnabled }, 'pier listening');
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number of seconds, not ${JSON.stringify(value)}`);
  return n * 1000;
}
