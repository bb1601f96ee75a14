/**
 * `pier user add|remove|list|passwd`: manages the htpasswd file (bcrypt, `$2y$`, as `htpasswd -B` writes).
 * The file is `--file FILE`, or `auth.htpasswd.path` of `--config config.yml`. Passwords are read from
 * standard input (`--password-stdin`, first line) or asked for on the terminal without echo — never taken
 * as an argument, where they would land in shell history and process lists. The file is replaced
 * atomically with mode 0600; a running Pier picks the change up on its next login.
 */
import { Command } from 'commander';
import { loadConfig, formatProblem } from '../config/load.ts';
import { DEFAULT_BCRYPT_COST, hashPassword, parseHtpasswd, readHtpasswdLines, userOfLine, validUserName, writeHtpasswdLines } from '../auth/htpasswd.ts';

interface FileFlags {
  file?: string;
  config?: string;
}

interface PasswordFlags extends FileFlags {
  passwordStdin?: boolean;
  cost: string;
}

function htpasswdPath(flags: FileFlags): string {
  if (flags.file) return flags.file;
  if (flags.config) {
    const result = loadConfig({ file: flags.config, env: process.env });
    if (!result.config) fail(`invalid configuration ${flags.config}:\n${result.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    const path = result.config.auth.htpasswd?.path;
    if (!path) fail(`${flags.config} has no auth.htpasswd.path`);
    return path;
  }
  return fail('name the htpasswd file with --file FILE or --config config.yml');
}

function fail(message: string): never {
  process.stderr.write(`pier user: ${message}\n`);
  process.exit(1);
}

async function readPassword(flags: PasswordFlags, user: string): Promise<string> {
  let password: string;
  if (flags.passwordStdin || !process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  } else {
    password = await promptHidden(`Password for ${user}: `);
    const again = await promptHidden('Again: ');
    if (again !== password) fail('the passwords differ');
  }
  if (password.length === 0) fail('empty password');
  return password;
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (data: Buffer): void => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          process.exit(130);
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

function cost(flags: PasswordFlags): number {
  const n = Number(flags.cost);
  if (!Number.isInteger(n) || n < 4 || n > 17) fail('--cost must be a whole number from 4 to 17');
  return n;
}

export function userCommand(): Command {
  const user = new Command('user').description('manage the users of the htpasswd file');
  const withFile = (c: Command): Command =>
    c.option('--file <htpasswd>', 'the htpasswd file').option('--config <file>', 'read auth.htpasswd.path from this configuration file');
  const withPassword = (c: Command): Command =>
    withFile(c)
      .option('--password-stdin', 'read the password from standard input (first line)')
      .option('--cost <n>', 'bcrypt cost', String(DEFAULT_BCRYPT_COST));

  withPassword(user.command('add').description('add a user').argument('<user>')).action(async (name: string, flags: PasswordFlags) => {
    if (!validUserName(name)) fail(`invalid user name ${JSON.stringify(name)}: no spaces, no ':'`);
    const path = htpasswdPath(flags);
    const lines = readHtpasswdLines(path);
    if (lines.some((l) => userOfLine(l) === name)) fail(`user ${name} already exists in ${path} (use pier user passwd)`);
    const hash = await hashPassword(await readPassword(flags, name), cost(flags));
    writeHtpasswdLines(path, [...lines, `${name}:${hash}`]);
    process.stdout.write(`added ${name} to ${path}\n`);
  });

  withPassword(user.command('passwd').description("change a user's password").argument('<user>')).action(async (name: string, flags: PasswordFlags) => {
    const path = htpasswdPath(flags);
    const lines = readHtpasswdLines(path);
    if (!lines.some((l) => userOfLine(l) === name)) fail(`no user ${name} in ${path}`);
    const hash = await hashPassword(await readPassword(flags, name), cost(flags));
    writeHtpasswdLines(path, lines.map((l) => (userOfLine(l) === name ? `${name}:${hash}` : l)));
    process.stdout.write(`changed the password of ${name} in ${path}\n`);
  });

  withFile(user.command('remove').description('remove a user').argument('<user>')).action((name: string, flags: FileFlags) => {
    const path = htpasswdPath(flags);
    const lines = readHtpasswdLines(path);
    if (!lines.some((l) => userOfLine(l) === name)) fail(`no user ${name} in ${path}`);
    writeHtpasswdLines(path, lines.filter((l) => userOfLine(l) !== name));
    process.stdout.write(`removed ${name} from ${path}\n`);
  });

  withFile(user.command('list').description('list the users')).action((flags: FileFlags) => {
    const path = htpasswdPath(flags);
    const parsed = parseHtpasswd(readHtpasswdLines(path).join('\n'));
    for (const name of parsed.users.keys()) process.stdout.write(`${name}\n`);
    for (const r of parsed.rejected) process.stdout.write(`${r.user || `(line ${r.line})`}\tunusable: ${r.reason}\n`);
  });
  return user;
}
