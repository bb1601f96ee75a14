/**
 * Runs `pier serve config.yml` as its own process in its own working directory (so storage other than the
 * filesystem keeps its index in that directory's ./data/pier/index.db), with no AWS_* variable from outside.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './pier-process.ts';
import { withoutAwsVariables } from './swift-s3.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** tsx by absolute URL: the process runs in another working directory. */
const TSX = import.meta.resolve('tsx');

export interface ConfiguredPier {
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Writes `cwd/config.yml` from `configLines` (everything but `http.addr`, which is added on a free port)
 * and starts Pier on it; resolves once /v2/ answers.
 */
export async function startPierWithConfig(cwd: string, configLines: string[], timeoutMs = 60_000): Promise<ConfiguredPier> {
  mkdirSync(cwd, { recursive: true });
  const port = await freePort();
  writeFileSync(join(cwd, 'config.yml'), [...configLines, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'));
  const child = spawn(process.execPath, ['--no-warnings', '--import', TSX, CLI, 'serve', 'config.yml'], { cwd, env: withoutAwsVariables(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) && child.pid) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pier exited (${child.exitCode}): ${output}`);
    if (await fetch(`${url}/v2/`).then((r) => r.status === 200, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pier did not start within ${timeoutMs / 1000} s: ${output}`);
    }
    await sleep(100);
  }
  return { url, host: `127.0.0.1:${port}`, output: () => output, stop };
}
