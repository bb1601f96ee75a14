/**
 * A private PostgreSQL 15 server for one test file: `initdb` into a scratch folder, `postgres` on a free
 * loopback port (and a Unix socket in the same folder), stopped by PID in `stop()`.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root the server runs as the unprivileged
 * `postgres` user (created by Debian's package) through `setpriv`, which execs in place: the PID we hold is the
 * postmaster's own. Password authentication (scram) is on, so the connection settings Pier is given are the
 * ones an operator would write. `fsync=off`: the data is thrown away after the file.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pier-process.ts';

export const POSTGRES_BIN = process.env.PIER_TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
const PACKAGE_HINT = 'PostgreSQL 15 is missing: apt-get install postgresql-15';

export interface RunningPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
  /** postgres://user:password@127.0.0.1:port/DATABASE */
  url(database?: string): string;
  /** Creates an empty database and returns its name. */
  createDatabase(prefix?: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Runs SQL through psql on the maintenance database (or `database`), returning its unaligned output. */
  psql(sql: string, database?: string): string;
  pid: number;
  stop(): Promise<void>;
}

interface RunAs {
  /** Prefix that runs a command as the server's user. */
  wrap(cmd: string, args: string[]): [string, string[]];
  uid?: number;
  gid?: number;
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error(`running as root needs the unprivileged user "postgres" (created by postgresql-15): ${PACKAGE_HINT}`);
  return {
    wrap: (cmd, args) => ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args]],
    uid: Number(id.stdout.trim()),
    gid: Number(gid.stdout.trim()),
  };
}

let databases = 0;

export async function startPostgres(): Promise<RunningPostgres> {
  for (const program of ['initdb', 'postgres', 'psql']) {
    try {
      accessSync(join(POSTGRES_BIN, program), constants.X_OK);
    } catch {
      throw new Error(`${join(POSTGRES_BIN, program)} not found. ${PACKAGE_HINT}`);
    }
  }
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'pier-postgres-'));
  const dataDir = join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const user = 'pier';
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (as.uid !== undefined) {
    chownSync(dir, as.uid, as.gid!);
    chownSync(pwfile, as.uid, as.gid!);
  }
  const [initCmd, initArgs] = as.wrap(join(POSTGRES_BIN, 'initdb'), [
    '-D', dataDir, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', cwd: dir });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
  }
  const port = await freePort();
  const [cmd, args] = as.wrap(join(POSTGRES_BIN, 'postgres'), [
    '-D', dataDir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    '-c', 'shared_buffers=32MB', '-c', 'logging_collector=off',
  ]);
  const child: ChildProcess = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr?.on('data', (d) => (log = (log + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const env = { ...process.env, PGPASSWORD: password };
  const psql = (sql: string, database = 'postgres'): string => {
    const result = spawnSync(join(POSTGRES_BIN, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', database, '-v', 'ON_ERROR_STOP=1', '-X', '-A', '-t', '-c', sql], {
      encoding: 'utf8',
      env,
    });
    if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
    return result.stdout.trim();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`postgres exited (${child.exitCode}): ${log}`);
    }
    try {
      psql('SELECT 1');
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`postgres did not accept connections within 30 s: ${(error as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const url = (database = 'postgres') => `postgres://${user}:${password}@127.0.0.1:${port}/${database}`;
  return {
    host: '127.0.0.1',
    port,
    user,
    password,
    url,
    pid: child.pid!,
    psql,
    async createDatabase(prefix = 'pier') {
      const name = `${prefix}_${process.pid}_${++databases}`;
      psql(`CREATE DATABASE ${name}`);
      return name;
    },
    async dropDatabase(name) {
      psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid!, 'SIGINT'); // fast shutdown: disconnect clients, stop at once
        const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
