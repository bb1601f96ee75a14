/**
 * `pier usage [--repository R | --namespace N]`: storage used (each blob counted once per scope, as quotas
 * count it) and the quota limits of `lifecycle.quotas` that apply; without either flag, every repository.
 * Reads the metadata index of the data directory (`--data`, or `--config config.yml`), building it from
 * storage first if it has never been built.
 */
import { Command } from 'commander';
import { createLogger } from '../observability/logger.ts';
import { openRegistry } from '../main/open-registry.ts';
import { indexSettings, lifecycleRules } from '../config/serve-settings.ts';
import { isRepositoryName } from '../registry/model/repository-name.ts';
import { humanBytes, NAMESPACE, usageReport, type UsageReport } from '../http/admin/usage-report.ts';
import { loadDataSettings, type DataFlags } from './token.ts';

interface UsageFlags extends DataFlags {
  repository?: string;
  namespace?: string;
  json?: boolean;
}

function fail(message: string): never {
  process.stderr.write(`pier usage: ${message}\n`);
  process.exit(1);
}

const bytes = (n: number): string => `${n} bytes (${humanBytes(n)})`;

function printReport(report: UsageReport): void {
  const what = report.repository !== undefined ? `repository ${report.repository}` : `namespace ${report.namespace}`;
  process.stdout.write(`${what}: ${bytes(report.usage)}${report.limit !== null ? ` of ${bytes(report.limit)} (${Math.round((report.usage / report.limit) * 1000) / 10}%)` : ', no quota'}\n`);
  for (const q of report.quotas) {
    const scope = q.repository !== undefined ? `repository ${q.repository}` : `namespace ${q.namespace}`;
    if (scope === what) continue;
    process.stdout.write(`  also limited by the quota of ${scope}: ${bytes(q.usage)} of ${bytes(q.limit)}\n`);
  }
}

export function usageCommand(): Command {
  return new Command('usage')
    .description('storage used by a repository or namespace (or every repository), with quota limits')
    .option('--repository <name>', 'one repository')
    .option('--namespace <name>', 'every repository under this first path component (team for team/app, team/tools/x)')
    .option('--config <file>', 'config.yml: the data directory and lifecycle.quotas')
    .option('--data <dir>', 'data directory (env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY; default ./data)')
    .option('--json', 'print JSON')
    .action(async (flags: UsageFlags) => {
      if (flags.repository !== undefined && flags.namespace !== undefined) fail('give --repository or --namespace, not both');
      if (flags.repository !== undefined && !isRepositoryName(flags.repository)) fail(`invalid repository name ${JSON.stringify(flags.repository)}`);
      if (flags.namespace !== undefined && !NAMESPACE.test(flags.namespace)) fail(`invalid namespace ${JSON.stringify(flags.namespace)} (the first component of a repository name)`);
      const { config, dataDir } = loadDataSettings(flags, 'usage');
      const quotas = lifecycleRules(config).quotas;
      const opened = await openRegistry({ dataDir, logger: createLogger('warn'), index: indexSettings(config) });
      try {
        if (flags.repository !== undefined || flags.namespace !== undefined) {
          if (flags.repository !== undefined && !(await opened.index.repositoryExists(flags.repository))) fail(`no repository ${flags.repository} in ${dataDir}`);
          const report = await usageReport(opened.index, quotas, flags.repository !== undefined ? { repository: flags.repository } : { namespace: flags.namespace! });
          if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          else printReport(report);
          return;
        }
        const reports: UsageReport[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await opened.index.listRepositories(after, 1000);
          for (const repository of page) reports.push(await usageReport(opened.index, quotas, { repository }));
          if (page.length < 1000) break;
          after = page[page.length - 1];
        }
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ repositories: reports }, null, 2)}\n`);
          return;
        }
        process.stdout.write('BYTES\tLIMIT\tREPOSITORY\n');
        for (const r of reports) process.stdout.write(`${r.usage}\t${r.limit ?? '-'}\t${r.repository}\n`);
      } finally {
        await opened.close();
      }
    });
}
