/**
 * `pier config check FILE`: validates a configuration file and reports every problem at once, each with
 * where it is (`FILE:LINE: key: message`), then the keys Pier accepts but does not act on. Also checks that
 * the files it names (TLS certificate and key, client CAs, htpasswd, token keys) can be read. Exits 1 when
 * anything is wrong. `--with-env` applies the REGISTRY_* environment variables first, as `pier serve` does.
 */
import { accessSync, constants } from 'node:fs';
import { Command } from 'commander';
import { formatProblem, loadConfig, type ConfigProblem } from '../config/load.ts';
import type { PierConfig } from '../config/schema.ts';
import { parseDefinition } from '../builds/model/definition.ts';

/** builds.definitions, checked with the admin API's rules (the schema takes them as they are). */
function invalidBuildDefinitions(config: PierConfig, where: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.builds.definitions.forEach((definition, n) => {
    try {
      parseDefinition(definition, 'config');
    } catch (error) {
      problems.push({ key: `builds.definitions.${n}`, message: (error as Error).message, where });
    }
  });
  return problems;
}

export function configCommand(): Command {
  const config = new Command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a configuration file and report every problem')
    .argument('<file>', 'configuration file (config.yml)')
    .option('--with-env', 'apply REGISTRY_* environment overrides, as pier serve does')
    .action((file: string, flags: { withEnv?: boolean }) => {
      const result = loadConfig({ file, env: flags.withEnv ? process.env : {} });
      const problems = [...result.problems, ...(result.config ? [...unreadableFiles(result.config, file), ...invalidBuildDefinitions(result.config, file)] : [])];
      for (const p of problems) process.stderr.write(`error: ${formatProblem(p)}\n`);
      for (const n of result.notices) process.stdout.write(`${n.level === 'warn' ? 'warning' : 'note'}: ${n.key ? `${n.key}: ` : ''}${n.message}\n`);
      if (problems.length > 0) {
        process.stderr.write(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${file}: configuration is valid\n`);
    });
  return config;
}

function unreadableFiles(config: PierConfig, where: string): ConfigProblem[] {
  const files: Array<[string, string | undefined]> = [
    ['http.tls.certificate', config.http.tls.certificate],
    ['http.tls.key', config.http.tls.key],
    ...config.http.tls.clientcas.map((f, i): [string, string] => [`http.tls.clientcas.${i}`, f]),
    ['auth.htpasswd.path', config.auth.htpasswd?.path],
    ['auth.token.rootcertbundle', config.auth.token?.rootcertbundle],
    ['auth.token.jwks', config.auth.token?.jwks],
    ['auth.token.signingkey', config.auth.token?.signingkey],
  ];
  const problems: ConfigProblem[] = [];
  for (const [key, path] of files) {
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      problems.push({ key, message: `cannot read ${path} (${(error as NodeJS.ErrnoException).code})`, where });
    }
  }
  return problems;
}
