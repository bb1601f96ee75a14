#!/usr/bin/env node
/** The `pier` command line. */
import { Command } from 'commander';
import { serveCommand } from './serve.ts';
import { reindexCommand } from './reindex.ts';
import { gcCommand } from './gc.ts';

const program = new Command();
program.name('pier').description('Pier: an OCI / Docker Registry v2 container image registry').version('0.1.0');
program.addCommand(serveCommand());
program.addCommand(reindexCommand());
program.addCommand(gcCommand());
await program.parseAsync(process.argv);
