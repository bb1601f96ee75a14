/**
 * `pier build …`: automated builds through a running Pier's admin API (admins only).
 *
 *   pier build definitions                      list build definitions
 *   pier build define FILE.json                 create or replace a definition (JSON as in docs/builds.md)
 *   pier build delete ID                        delete a definition
 *   pier build trigger-token ID                 a new trigger URL (the previous one stops working)
 *   pier build start ID --branch B | --tag T    build now [--commit SHA] [--docker-tag TAG]
 *   pier build upload ID FILE [--tag T]         build a context archive (tar or tar.gz)
 *   pier build list [--repository R]           history, newest first
 *   pier build show BUILD                       one build
 *   pier build logs BUILD [-f]                  its log; -f follows it until the build ends
 *   pier build cancel BUILD                     cancel a queued or running build
 *
 * `--url` (env PIER_URL, default http://127.0.0.1:5000); with authentication configured, `--user` and the
 * password in env PIER_PASSWORD (never on the command line).
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

interface Flags {
  url?: string;
  user?: string;
}

function fail(message: string): never {
  process.stderr.write(`pier build: ${message}\n`);
  process.exit(1);
}

function client(flags: Flags) {
  const base = (flags.url ?? process.env.PIER_URL ?? 'http://127.0.0.1:5000').replace(/\/$/, '');
  const headers: Record<string, string> = {};
  if (flags.user) {
    const password = process.env.PIER_PASSWORD;
    if (password === undefined) fail('set the password in the environment variable PIER_PASSWORD');
    headers.Authorization = `Basic ${Buffer.from(`${flags.user}:${password}`).toString('base64')}`;
  }
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    let res: Response;
    const raw = Buffer.isBuffer(body);
    try {
      res = await fetch(`${base}/pier/api/v1/builds${path}`, {
        method,
        headers: { ...headers, ...(body !== undefined ? { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' } : {}) },
        ...(body !== undefined ? { body: raw ? new Uint8Array(body as Buffer) : JSON.stringify(body) } : {}),
      });
    } catch (error) {
      fail(`cannot reach ${base}: ${(error as Error).message}`);
    }
    if (!res.ok) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { errors: Array<{ message: string }> }).errors[0]!.message;
      } catch {
        // not JSON
      }
      fail(`${res.status}: ${message}`);
    }
    return res;
  };
  return {
    json: async (method: string, path: string, body?: unknown) => (await call(method, path, body)).json() as Promise<any>,
    raw: call,
  };
}

const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

export function buildCommand(): Command {
  const command = new Command('build').description('automated builds (through the admin API of a running Pier)');
  const sub = (name: string, description: string) =>
    command.command(name).description(description).option('--url <url>', 'Pier base URL (env PIER_URL; default http://127.0.0.1:5000)').option('--user <name>', 'admin user (password from env PIER_PASSWORD)');
  sub('definitions', 'list build definitions').action(async (flags: Flags) => print((await client(flags).json('GET', '/definitions')).definitions));
  sub('define <file>', 'create or replace a definition from a JSON file').action(async (file: string, flags: Flags) => {
    let body: any;
    try {
      body = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      fail(`cannot read ${file}: ${(error as Error).message}`);
    }
    if (typeof body?.id !== 'string') fail('the definition needs an id');
    print(await client(flags).json('PUT', `/definitions/${encodeURIComponent(body.id)}`, body));
  });
  sub('delete <id>', 'delete a definition').action(async (id: string, flags: Flags) => void (await client(flags).raw('DELETE', `/definitions/${encodeURIComponent(id)}`)));
  sub('trigger-token <id>', 'a new trigger URL (the previous one stops working)').action(async (id: string, flags: Flags) => print(await client(flags).json('POST', `/definitions/${encodeURIComponent(id)}/trigger-token`, {})));
  sub('start <id>', 'build a branch or tag now')
    .option('--branch <name>')
    .option('--tag <name>')
    .option('--commit <sha>')
    .option('--docker-tag <tag>')
    .action(async (id: string, flags: Flags & { branch?: string; tag?: string; commit?: string; dockerTag?: string }) => {
      if ((flags.branch === undefined) === (flags.tag === undefined)) fail('give --branch or --tag');
      const body = { sourceType: flags.branch !== undefined ? 'Branch' : 'Tag', sourceName: flags.branch ?? flags.tag, ...(flags.commit ? { commit: flags.commit } : {}), ...(flags.dockerTag ? { tag: flags.dockerTag } : {}) };
      const { builds } = await client(flags).json('POST', `/definitions/${encodeURIComponent(id)}/builds`, body);
      for (const b of builds) process.stdout.write(`${b.id}\n`);
    });
  sub('upload <id> <file>', 'build a context archive (tar or tar.gz) with the definition\'s Dockerfile')
    .option('--tag <tag>', 'image tag (default latest)')
    .action(async (id: string, file: string, flags: Flags & { tag?: string }) => {
      let archive: Buffer;
      try {
        archive = readFileSync(file);
      } catch (error) {
        fail(`cannot read ${file}: ${(error as Error).message}`);
      }
      const { builds } = await client(flags).json('POST', `/definitions/${encodeURIComponent(id)}/context?tag=${encodeURIComponent(flags.tag ?? 'latest')}`, archive);
      for (const b of builds) process.stdout.write(`${b.id}\n`);
    });
  sub('list', 'build history, newest first')
    .option('--repository <name>')
    .option('--definition <id>')
    .option('--json')
    .action(async (flags: Flags & { repository?: string; definition?: string; json?: boolean }) => {
      const query = new URLSearchParams({ ...(flags.repository ? { repository: flags.repository } : {}), ...(flags.definition ? { definition: flags.definition } : {}) });
      const { builds } = await client(flags).json('GET', `?${query}`);
      if (flags.json) return print(builds);
      process.stdout.write('ID\tSTATUS\tREPOSITORY:TAGS\tCOMMIT\tDURATION\tDIGEST\n');
      for (const b of builds) process.stdout.write(`${b.id}\t${b.status}\t${b.repository}:${b.tags.join(',')}\t${(b.commit ?? '-').slice(0, 12)}\t${b.durationMs !== null ? `${(b.durationMs / 1000).toFixed(1)}s` : '-'}\t${b.digest ?? '-'}\n`);
    });
  sub('show <build>', 'one build').action(async (id: string, flags: Flags) => print(await client(flags).json('GET', `/${encodeURIComponent(id)}`)));
  sub('cancel <build>', 'cancel a queued or running build').action(async (id: string, flags: Flags) => print(await client(flags).json('POST', `/${encodeURIComponent(id)}/cancel`, {})));
  sub('logs <build>', 'the build log')
    .option('-f, --follow', 'keep printing until the build ends')
    .action(async (id: string, flags: Flags & { follow?: boolean }) => {
      const res = await client(flags).raw('GET', `/${encodeURIComponent(id)}/logs${flags.follow ? '?follow=1' : ''}`);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
    });
  return command;
}
