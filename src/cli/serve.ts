/**
 * `pier serve [config.yml]`: run the registry. The configuration file uses the reference registry's format
 * (`--config FILE`, the positional argument, or REGISTRY_CONFIGURATION_PATH as with registry:2); REGISTRY_*
 * environment variables override it, and flags override both. SIGHUP re-reads the TLS certificate and key.
 */
import { Command } from 'commander';
import { createLogger, type Logger } from '../observability/logger.ts';
import { startServer } from '../main/start-server.ts';
import { eventsSettings } from '../events/events-settings.ts';
import { resolveServeSettings, type ServeSettings } from '../config/serve-settings.ts';
import { ConfigError, formatProblem, type ServeFlags } from '../config/load.ts';
import { pullThroughSettings } from '../config/proxy-settings.ts';

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
    .action(async (positional: string | undefined, flags: Flags) => {
      const configFile = flags.config ?? positional ?? process.env.REGISTRY_CONFIGURATION_PATH;
      let settings: ServeSettings;
      try {
        settings = resolveServeSettings(flags, process.env, configFile);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`pier: invalid configuration${configFile ? ` (${configFile})` : ''}:\n${error.problems.map((p) => `  ${formatProblem(p)}\n`).join('')}`);
        process.exit(2);
      }
      const base = createLogger(settings.logLevel);
      const logger: Logger = Object.keys(settings.logFields).length > 0 ? base.child(settings.logFields) : base;
      for (const notice of settings.notices) logger[notice.level]({ key: notice.key }, notice.message);
      const { config } = settings;
      const authConfigured = config.auth.htpasswd !== undefined || config.auth.token !== undefined;
      const pullThrough = pullThroughSettings(config);
      let running: Awaited<ReturnType<typeof startServer>>;
      try {
        running = await startServer({
          dataDir: settings.dataDir,
          index: settings.index,
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
          ...(authConfigured ? { access: { auth: config.auth, access: config.access } } : {}),
          maintenance: {
            ...(settings.uploadPurging ? { uploadPurging: settings.uploadPurging } : {}),
            ...(settings.gc ? { gc: { ...settings.gc, retention: settings.retention, immutableTags: settings.immutableTags } } : {}),
          },
        });
      } catch (error) {
        logger.fatal({ err: (error as Error).message }, 'cannot start');
        process.exit(1);
      }
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
      if (settings.readOnly) logger.info('read-only mode: pulls are served, every write is refused');
      logger.info(
        {
          addr: settings.addr,
          port: running.port,
          scheme: running.scheme,
          http2: settings.tls?.http2 ?? false,
          dataDir: settings.dataDir,
          index: running.opened.indexBackend.description,
          deleteEnabled: settings.deleteEnabled,
          auth: config.auth.token ? (config.auth.token.signingkey ? 'token (built-in service)' : 'token') : config.auth.htpasswd ? 'htpasswd' : 'none',
        },
        'pier listening',
      );
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
