#!/usr/bin/env node
/** The `pier` command line. */
import { Command } from 'commander';
import { serveCommand } from './serve.ts';
import { reindexCommand } from './reindex.ts';
import { configCommand } from './config-check.ts';
import { userCommand } from './user.ts';
import { gcCommand } from './gc.ts';
import { scrubCommand } from './scrub.ts';
import { tokenCommand } from './token.ts';
import { usageCommand } from './usage.ts';
import { webhookCommand } from './webhook.ts';
import { deliveriesCommand } from './deliveries.ts';

const program = new Command();
program.name('pier').description('Pier: an OCI / Docker Registry v2 container image registry').version('0.1.0');
program.addCommand(serveCommand());
program.addCommand(reindexCommand());
program.addCommand(configCommand());
program.addCommand(userCommand());
program.addCommand(gcCommand());
program.addCommand(scrubCommand());
program.addCommand(tokenCommand());
program.addCommand(usageCommand());
program.addCommand(webhookCommand());
program.addCommand(deliveriesCommand());
await program.parseAsync(process.argv);
