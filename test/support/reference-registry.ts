/**
 * Runs the reference registry (Debian's `docker-registry`, CNCF Distribution 2.8) for side-by-side and
 * data-compatibility tests: filesystem storage in a given folder, deletes enabled, a fixed http.secret, on a
 * free 127.0.0.1 port.
 *
 * Its environment is deliberately minimal: the registry reads REGISTRY_* variables as config overrides, and
 * REGISTRY_AUTH_FILE (which the clients' environment sets) would make it refuse to start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunningReference {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  /** storage.filesystem.rootdirectory */
  dataDir: string;
  configPath: string;
  /** Everything the registry printed so far (for failure messages). */
  logs(): string;
  /** Stops the registry (SIGTERM, then SIGKILL) and removes its config folder; leaves dataDir alone. */
  close(): Promise<void>;
}

export interface ReferenceOptions {
  /** Storage root; created if missing. */
  dataDir: string;
  /** How long to wait for `/v2/` to answer; default 20 s. */
  startTimeoutMs?: number;
  /** Extra top-level config.yml lines (e.g. an `auth:` section). */
  extraConfig?: string[];
  /** Status `/v2/` answers once it is up (401 with auth configured); default 200. */
  readyStatus?: number;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function configYaml(dataDir: string, port: number, extra: string[] = []): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: pier-reference-registry-test-secret',
    ...extra,
    '',
  ].join('\n');
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function answersV2(url: string, status = 200): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1_000) });
    await response.arrayBuffer();
    return response.status === status;
  } catch {
    return false;
  }
}

async function startOnce(opts: ReferenceOptions, port: number): Promise<RunningReference> {
  const configDir = await mkdtemp(join(tmpdir(), 'pier-reference-'));
  const configPath = join(configDir, 'config.yml');
  await writeFile(configPath, configYaml(opts.dataDir, port, opts.extraConfig));
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;

  const child = spawn('docker-registry', ['serve', configPath], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: configDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const close = async (): Promise<void> => {
    await stopProcess(child);
    await rm(configDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  while (!(await answersV2(url, opts.readyStatus))) {
    if (spawnError !== undefined || child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await close();
      const why = spawnError?.message ?? (child.exitCode !== null ? `exited with ${child.exitCode}` : 'timed out');
      throw new Error(`docker-registry serve on ${host} did not start (${why}):\n${output}`);
    }
    await sleep(50);
  }
  return { url, host, dataDir: opts.dataDir, configPath, logs: () => output, close };
}

/** Starts the reference registry on a free port, storing into opts.dataDir, and waits until `/v2/` answers 200. */
export async function startReferenceRegistry(opts: ReferenceOptions): Promise<RunningReference> {
  await mkdir(opts.dataDir, { recursive: true });
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, await freePort());
    } catch (error) {
      lastError = error; // most likely the port was taken between freePort() and listen; try another
    }
  }
  throw lastError;
}
