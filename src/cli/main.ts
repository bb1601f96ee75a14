#!/usr/bin/env node
/**
 * The `pier` command line. Only the module of the command being run is loaded (the others pull in code
 * that `pier serve` never needs, e.g. bcrypt for `pier user`); `pier --help` loads them all to list them.
 */
import { Command } from 'commander';
import { markStartup } from '../observability/startup-trace.ts';
import { forkFirstWorkerEarly } from '../main/early-worker.ts';

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.ts')).serveCommand(),
  reindex: async () => (await import('./reindex.ts')).reindexCommand(),
  config: async () => (await import('./config-check.ts')).configCommand(),
  user: async () => (await import('./user.ts')).userCommand(),
  gc: async () => (await import('./gc.ts')).gcCommand(),
  scrub: async () => (await import('./scrub.ts')).scrubCommand(),
  token: async () => (await import('./token.ts')).tokenCommand(),
  usage: async () => (await import('./usage.ts')).usageCommand(),
  build: async () => (await import('./build.ts')).buildCommand(),
  webhook: async () => (await import('./webhook.ts')).webhookCommand(),
  deliveries: async () => (await import('./deliveries.ts')).deliveriesCommand(),
};

async function main(): Promise<void> {
  markStartup('bundle evaluated');
  // A pool's first worker starts before the supervisor loads anything else (main/early-worker.ts).
  if (process.argv[2] === 'serve') forkFirstWorkerEarly(process.argv.slice(3), process.env);
  const program = new Command();
  program.name('pier').description('Pier: an OCI / Docker Registry v2 container image registry').version('0.1.0');
  const requested = process.argv[2];
  const load = requested !== undefined ? COMMANDS[requested] : undefined;
  for (const command of await Promise.all(load ? [load()] : Object.values(COMMANDS).map((c) => c()))) program.addCommand(command);
  await program.parseAsync(process.argv);
}

// Not a top-level await: the production bundle is a CommonJS script (see scripts/build.mjs).
main().catch((error: unknown) => {
  process.stderr.write(`pier: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
