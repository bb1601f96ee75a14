/** Runs Pier as a separate process (for crash, restart and multi-process tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface PierProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends SIGKILL to the process and its workers at once (a crash of the whole server) and waits for it to be gone. */
  kill(): Promise<void>;
  /** Sends SIGTERM and waits for a clean exit. */
  stop(): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/** tsx by absolute URL, for a process started in another working directory. */
const TSX = import.meta.resolve('tsx');

/**
 * `dataDir` undefined: no `--data` flag (storage comes from the configuration, e.g. S3). `cwd`: the
 * process's working directory (where a Pier without a filesystem root keeps ./data); `env`: its environment.
 */
export async function startPierProcess(dataDir: string | undefined, extraArgs: string[] = [], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<PierProcess> {
  const port = await freePort();
  const data = dataDir !== undefined ? ['--data', dataDir] : [];
  const child = spawn(process.execPath, ['--import', options.cwd !== undefined ? TSX : 'tsx', CLI, 'serve', '--addr', `127.0.0.1:${port}`, ...data, '--delete', '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pier exited early (${child.exitCode}): ${output}`);
    try {
      // 401: up, with authentication configured.
      const status = (await fetch(`${url}/v2/`)).status;
      if (status === 200 || status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pier did not start within 20 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    output: () => output,
    async kill() {
      const workers = childPids(child.pid!);
      child.kill('SIGKILL');
      for (const pid of workers) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
      // A crash is over when every worker is gone too (or a zombie nobody has reaped yet: it holds nothing).
      for (const pid of workers) await untilDead(pid);
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The direct children of a process (the workers of a pool), from /proc. */
async function untilDead(pid: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let state: string | undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return; // gone
    }
    if (state === 'Z' || state === 'X') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function childPids(pid: number): number[] {
  const pids: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // the process is gone
  }
  return pids;
}
