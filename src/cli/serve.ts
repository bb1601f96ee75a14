/**
 * `pier serve [config.yml]`: run the registry. The configuration file uses the reference registry's format
 * (`--config FILE`, the positional argument, or REGISTRY_CONFIGURATION_PATH as with registry:2); REGISTRY_*
 * environment variables override it, and flags override both. SIGHUP re-reads the TLS certificate and key.
 */
import { Command } from 'commander';
import cluster from 'node:cluster';
import { createLogger, type Logger } from '../observability/logger.ts';
import { eventsSettings } from '../events/events-settings.ts';
import { runWorkerPool, serverStartedAt, workerSlot } from '../main/worker-pool.ts';
import { joinMetricsPool } from '../observability/cluster-metrics.ts';
import { resolveServeSettings, type ServeSettings } from '../config/serve-settings.ts';
import { ConfigError, formatProblem, type ServeFlags } from '../config/load.ts';
import { parseDefinition, type BuildDefinition } from '../builds/model/definition.ts';
import { pullThroughSettings } from '../config/proxy-settings.ts';
import { markStartup } from '../observability/startup-trace.ts';
import { dismissEarlyWorker, EARLY_WORKER_ENV, takeEarlyWorker } from '../main/early-worker.ts';

interface Flags extends ServeFlags {
  config?: string;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the registry API')
    .argument('[config]', 'configuration file (same as --config)')
    .option('--config <file>', "configuration file in the reference registry's config.yml format (env REGISTRY_CONFIGURATION_PATH)")
    .option('--addr <addr>', 'listen address, host:port or :port (http.addr; env REGISTRY_HTTP_ADDR; default :5000)')
    .option('--data <dir>', 'data directory (storage.filesystem.rootdirectory; env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data without a config file)')
    .option('--delete', 'allow deleting manifests, tags and blobs (storage.delete.enabled; env REGISTRY_STORAGE_DELETE_ENABLED=true)')
    .option('--log-level <level>', 'trace, debug, info, warn, error (log.level; env REGISTRY_LOG_LEVEL; default info)')
    .option('--drain-timeout <seconds>', 'on SIGTERM, how long requests in flight may finish (http.draintimeout; default 30)')
    .option('--shutdown-delay <seconds>', 'on SIGTERM, keep serving this long with /readyz at 503 before closing the listener (http.shutdowndelay; default 0)')
    .option('--workers <n>', 'worker processes sharing the listener (http.workers; default: one per CPU core; 1 runs a single process)')
    .action(async (positional: string | undefined, flags: Flags) => {
      markStartup('serve command');
      const configFile = flags.config ?? positional ?? process.env.REGISTRY_CONFIGURATION_PATH;
      let settings: ServeSettings;
      try {
        settings = resolveServeSettings(flags, process.env, configFile);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        await dismissEarlyWorker();
        if (process.env[EARLY_WORKER_ENV] === '1') process.exit(2);
        process.stderr.write(`pier: invalid configuration${configFile ? ` (${configFile})` : ''}:\n${error.problems.map((p) => `  ${formatProblem(p)}\n`).join('')}`);
        process.exit(2);
      }
      const base = createLogger(settings.logLevel);
      const slot = workerSlot();
      const logger: Logger = withFields(base, { ...settings.logFields, ...(slot !== undefined ? { worker: slot, pid: process.pid } : {}) });
      const { config } = settings;
      const authConfigured = config.auth.htpasswd !== undefined || config.auth.token !== undefined;
      let definitions: BuildDefinition[] = [];
      try {
        definitions = config.builds.definitions.map((d, n) => {
          try {
            return parseDefinition(d, 'config');
          } catch (error) {
            throw new Error(`builds.definitions[${n}]: ${(error as Error).message}`);
          }
        });
      } catch (error) {
        await dismissEarlyWorker();
        if (process.env[EARLY_WORKER_ENV] === '1') process.exit(2);
        process.stderr.write(`pier: invalid configuration${configFile ? ` (${configFile})` : ''}:\n  ${(error as Error).message}\n`);
        process.exit(2);
      }
      const pullThrough = pullThroughSettings(config);
      const startupFields = {
        addr: settings.addr,
        scheme: settings.tls ? 'https' : 'http',
        http2: settings.tls?.http2 ?? false,
        dataDir: settings.dataDir,
        storage: settings.storage.driver,
        index: { backend: settings.index.backend },
        deleteEnabled: settings.deleteEnabled,
        auth: config.auth.token ? (config.auth.token.signingkey ? 'token (built-in service)' : 'token') : config.auth.htpasswd ? 'htpasswd' : 'none',
      };
      if (slot === undefined) {
        // The supervisor (or a single process) speaks for the whole server; workers only serve.
        for (const notice of settings.notices) logger[notice.level]({ key: notice.key }, notice.message);
        warnAboutExposure(settings, authConfigured, logger);
      }
      markStartup('settings resolved');
      if (settings.workers > 1 && cluster.isPrimary) {
        const first = takeEarlyWorker();
        const code = await runWorkerPool({
          ...(first ? { first } : {}),
          workers: settings.workers,
          logger,
          drainTimeoutMs: settings.drainTimeoutMs,
          shutdownDelayMs: settings.shutdownDelayMs,
          onReady: (pids, port) => logger.info({ ...startupFields, port, workers: settings.workers, pids }, 'pier listening'),
        });
        process.exit(code);
      }
      // One process after all (the configuration file said so): the worker forked on speculation goes.
      await dismissEarlyWorker();
      // Loaded only here: the supervisor of a pool never needs the registry's code.
      const { startServer } = await import('../main/start-server.ts');
      markStartup('server code evaluated');
      const runsMaintenance = slot === undefined || slot === 0;
      let running: Awaited<ReturnType<typeof startServer>>;
      try {
        running = await startServer({
          startedAt: serverStartedAt(),
          storagePass: runsMaintenance,
          waitForIndexBuilder: !runsMaintenance,
          dataDir: settings.dataDir,
          index: settings.index,
          storage: settings.storage,
          redirect: settings.redirect,
          listen: settings.listen,
          logger,
          registry: { deleteEnabled: settings.deleteEnabled, immutableTags: settings.immutableTags, quotas: settings.quotas },
          drainTimeoutMs: settings.drainTimeoutMs,
          shutdownDelayMs: settings.shutdownDelayMs,
          ...(settings.tls ? { tls: settings.tls } : {}),
          readOnly: settings.readOnly,
          headers: settings.headers,
          events: eventsSettings(settings.config.notifications),
          ...(pullThrough ? { pullThrough } : {}),
          ...(settings.accelRedirect !== undefined ? { accelRedirect: settings.accelRedirect } : {}),
          ...(authConfigured ? { access: { auth: config.auth, access: config.access } } : {}),
          web: { enabled: config.web.enabled, path: config.web.path },
          ...(config.http.host ? { publicHost: config.http.host } : {}),
          retention: settings.retention,
          ...(settings.gc ? { gcSchedule: settings.gc } : {}),
          ...(config.builds.enabled
            ? {
                builds: {
                  concurrency: config.builds.concurrency,
                  timeoutMs: config.builds.timeout,
                  registryHosts: config.builds.registryhosts,
                  sourceHosts: config.builds.sourcehosts,
                  ...(config.builds.workdir !== undefined ? { workDir: config.builds.workdir } : {}),
                  definitions,
                },
              }
            : {}),
          maintenance: runsMaintenance
            ? {
                ...(settings.uploadPurging ? { uploadPurging: settings.uploadPurging } : {}),
                ...(settings.gc ? { gc: { ...settings.gc, retention: settings.retention, immutableTags: settings.immutableTags } } : {}),
              }
            : {},
        });
      } catch (error) {
        logger.fatal({ err: (error as Error).message }, 'cannot start');
        process.exit(1);
      }
      markStartup('listening');
      if (slot !== undefined) {
        running.metrics.exposition = joinMetricsPool(running.metrics.registry);
        logger.debug({ port: running.port }, 'worker listening');
      } else {
        if (settings.readOnly) logger.info('read-only mode: pulls are served, every write is refused');
        logger.info({ ...startupFields, port: running.port, workers: 1 }, 'pier listening');
      }
      process.on('SIGHUP', () => {
        try {
          running.reloadTls();
          if (settings.tls) logger.info({ certificate: settings.tls.certificateFile }, 'TLS certificate and key reloaded');
        } catch (error) {
          logger.error({ err: (error as Error).message }, 'TLS reload failed: the previous certificate stays in use');
        }
      });
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}

function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return Object.keys(fields).length > 0 ? logger.child(fields) : logger;
}

function warnAboutExposure(settings: ServeSettings, authConfigured: boolean, logger: Logger): void {
  const host = settings.listen.host;
  const loopback = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  if (!settings.tls && !loopback) {
    logger.warn(
      { addr: settings.addr },
      authConfigured
        ? 'INSECURE: serving plain HTTP on a non-loopback address with authentication: passwords and tokens cross the network in clear text. Configure http.tls'
        : 'INSECURE: serving plain HTTP on a non-loopback address: configure http.tls before exposing this registry',
    );
  }
  if (!authConfigured && !loopback) logger.warn({ addr: settings.addr }, 'no authentication configured: anyone who reaches this address can push and pull');
}
