/**
 * The processes under test: Pier (`node dist/cli/main.js serve`, or through tsx from src/), the reference
 * registry (`docker-registry serve CONFIG.yml`), and the trivial node:http server that measures the load
 * generator's ceiling. Each starts on a free loopback port; start-up time is from spawn to the first 200
 * on `/v2/`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export type ServerKind = 'pier' | 'reference' | 'trivial';

export interface RunningServer {
  kind: ServerKind;
  url: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Spawn to the first 200 on /v2/, in ms. */
  startupMs: number;
  /** The last 64 KiB the process printed. */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  stop(): Promise<void>;
}

export type PierLaunch = 'dist' | 'tsx';

export interface LaunchOptions {
  /** The Pier checkout to run (default: this repository). */
  pierRoot: string;
  pierLaunch: PierLaunch;
  /** Extra node flags for Pier, e.g. --cpu-prof. */
  pierNodeArgs: string[];
  /** `pier serve --workers`: worker processes (1: a single process). */
  pierWorkers: number;
  /** Write the reference registry's shipped `cache: blobdescriptor: inmemory` (Debian's and registry:2's default config). */
  referenceCache: boolean;
}

/** Builds dist/ when it is missing or older than src/; falls back to tsx when the build fails. */
export function preparePier(root: string, requested: PierLaunch | 'auto', log: (line: string) => void): PierLaunch {
  if (requested === 'tsx') return 'tsx';
  const entry = join(root, 'dist/cli/main.js');
  const stale = !existsSync(entry) || newestMtime(join(root, 'src')) > statSync(entry).mtimeMs;
  if (!stale) return 'dist';
  log(`${root}/dist is missing or older than src/: npm run build`);
  const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status === 0 && existsSync(entry)) return 'dist';
  log(`npm run build failed (${build.status}); running Pier through tsx instead:\n${(build.stdout + build.stderr).slice(-2000)}`);
  if (requested === 'dist') throw new Error('--pier=dist but the build failed');
  return 'tsx';
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** A free loopback port (also bench/startup/repeat.ts). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolvePort(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Environment without REGISTRY_* (both registries read them as configuration) and without NODE_OPTIONS. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('REGISTRY_') || key === 'NODE_OPTIONS' || key === 'NODE_TEST_CONTEXT') continue;
    env[key] = value;
  }
  return env;
}

function referenceConfig(dataDir: string, port: number, cache: boolean): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    ...(cache ? ['  cache:', '    blobdescriptor: inmemory'] : []),
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: pier-bench-fixed-http-secret',
    '',
  ].join('\n');
}

/** pier_serving_processes from /metrics (summed over a worker pool); 0 when it cannot be read. */
function servingProcesses(url: string): Promise<number> {
  return metricValue(url, 'pier_serving_processes').then((value) => value ?? 0);
}

/** A gauge of Pier's /metrics; undefined when absent (an older Pier) or unreadable. */
function metricValue(url: string, name: string): Promise<number | undefined> {
  return new Promise((resolveValue) => {
    const req = http.get(`${url}/metrics`, { agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => {
        const found = new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1];
        resolveValue(found === undefined ? undefined : Number(found));
      });
      res.once('error', () => resolveValue(undefined));
    });
    req.once('error', () => resolveValue(undefined));
    req.once('timeout', () => req.destroy());
  });
}

/** 200 on GET /v2/ over a fresh connection? */
function answers200(url: string): Promise<boolean> {
  return new Promise((resolveCheck) => {
    const req = http.get(`${url}/v2/`, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.once('end', () => resolveCheck(res.statusCode === 200));
      res.once('error', () => resolveCheck(false));
    });
    req.once('error', () => resolveCheck(false));
    req.once('timeout', () => req.destroy());
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  child.kill('SIGTERM');
  const patience = new AbortController();
  const stopped = await Promise.race([exited.then(() => true), sleep(10_000, undefined, { signal: patience.signal }).then(() => false, () => true)]);
  patience.abort();
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

function command(kind: ServerKind, port: number, dataDir: string, options: LaunchOptions): { file: string; args: string[]; cwd: string } {
  if (kind === 'pier') {
    const entry = options.pierLaunch === 'dist' ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
    return {
      file: process.execPath,
      args: [...options.pierNodeArgs, ...entry, 'serve', '--addr', `127.0.0.1:${port}`, '--data', dataDir, '--delete', '--log-level', 'warn', '--workers', String(options.pierWorkers)],
      cwd: options.pierRoot,
    };
  }
  if (kind === 'reference') {
    const configPath = join(dataDir, '..', `${port}-config.yml`);
    writeFileSync(configPath, referenceConfig(dataDir, port, options.referenceCache));
    return { file: 'docker-registry', args: ['serve', configPath], cwd: dataDir };
  }
  return { file: process.execPath, args: ['--import', 'tsx', 'bench/trivial-server.ts', String(port)], cwd: REPO_ROOT };
}

/** Runs a `pier` subcommand (e.g. `reindex --data DIR`) to completion; throws when it fails. */
export function runPierCli(options: LaunchOptions, args: string[]): { ms: number; output: string } {
  const entry = options.pierLaunch === 'dist' ? ['dist/cli/main.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  const started = performance.now();
  const result = spawnSync(process.execPath, [...entry, ...args], { cwd: options.pierRoot, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const ms = performance.now() - started;
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) throw new Error(`pier ${args.join(' ')} exited with ${result.status ?? result.signal}: ${output.slice(-2000)}`);
  return { ms, output };
}

/** Starts a server with `dataDir` (created if missing) and waits for its first 200 on /v2/. */
export async function launch(kind: ServerKind, dataDir: string, options: LaunchOptions): Promise<RunningServer> {
  mkdirSync(dataDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launchOnce(kind, dataDir, await freePort(), options);
    } catch (error) {
      lastError = error; // the port may have been taken between freePort() and listen
    }
  }
  throw lastError;
}

async function launchOnce(kind: ServerKind, dataDir: string, port: number, options: LaunchOptions): Promise<RunningServer> {
  const url = `http://127.0.0.1:${port}`;
  const { file, args, cwd } = command(kind, port, dataDir, options);
  const started = performance.now();
  const child = spawn(file, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-65536);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null && spawnError === undefined;

  const deadline = started + 30_000;
  while (!(await answers200(url))) {
    if (!alive() || performance.now() > deadline) {
      await stopChild(child);
      const why = spawnError?.message ?? (child.exitCode !== null ? `exited with ${child.exitCode}` : child.signalCode ?? 'timed out');
      throw new Error(`${kind} (${file} ${args.join(' ')}) did not answer 200 on ${url}/v2/ (${why}):\n${output}`);
    }
    await sleep(5);
  }
  const startupMs = performance.now() - started;
  // A worker pool answers its first 200 from the first worker up; a workload must not begin (and pin its
  // keep-alive connections to that worker) before every worker serves.
  if (kind === 'pier' && options.pierWorkers > 1) {
    while ((await servingProcesses(url)) < options.pierWorkers) {
      if (!alive() || performance.now() > deadline) {
        await stopChild(child);
        throw new Error(`pier did not bring up ${options.pierWorkers} workers within 30 s:\n${output}`);
      }
      await sleep(20);
    }
  }
  // Nor before Pier's start-up reconciliation with storage is done (it runs after listening, and a request for a
  // repository it has not checked yet waits for that check): workloads measure the steady state. An older Pier
  // without the gauge reconciled before listening.
  if (kind === 'pier') {
    for (let value = await metricValue(url, 'pier_index_reconciled'); value !== undefined && value < 1; value = await metricValue(url, 'pier_index_reconciled')) {
      if (!alive() || performance.now() > started + 300_000) {
        await stopChild(child);
        throw new Error(`pier did not finish reconciling its index with storage within 300 s:\n${output}`);
      }
      await sleep(50);
    }
  }
  return {
    kind,
    url,
    port,
    pid: child.pid!,
    dataDir,
    startupMs,
    output: () => output,
    alive,
    stop: () => stopChild(child),
  };
}
