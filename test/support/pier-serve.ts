/**
 * Runs `pier serve config.yml` as a separate process — exactly what an operator runs — on a free loopback
 * port, and stops it by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './pier-process.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ServedPier {
  url: string;
  host: string;
  child: ChildProcess;
  /** The config.yml it runs with (for `pier gc --config` beside it). */
  configFile: string;
  output(): string;
  stop(): Promise<void>;
}

/** `config` is config.yml (written into `dir`); the address comes from REGISTRY_HTTP_ADDR, as with registry:2. */
export async function startPierServe(dir: string, config: string): Promise<ServedPier> {
  const port = await freePort();
  const file = join(dir, 'config.yml');
  writeFileSync(file, config);
  const env = { ...process.env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`, REGISTRY_LOG_LEVEL: 'warn' };
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', file], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pier exited early (${child.exitCode}): ${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pier did not start within 30 s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    child,
    configFile: file,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
