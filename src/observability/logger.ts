/**
 * The process logger: JSON lines on stdout (pretty when stdout is a terminal). Static lowercase messages,
 * values as fields. Authorization headers and credentials are never passed to it; `redact` is the
 * second guard.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { createRequire } from 'node:module';

export type { Logger };

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'pier' },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'password', 'token', '*.password', '*.token'], censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY) {
    // Loaded only for a terminal: it is a tenth of a second of start-up that a server under a supervisor never needs.
    const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return pino(options, pretty({ colorize: true, sync: true }));
  }
  return pino(options);
}
