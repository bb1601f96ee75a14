/**
 * Azurite (Microsoft's Azure Storage emulator, an npm devDependency): the blob service only, in memory, on a
 * loopback free port, stopped by PID. Uses the emulator's well-known development account.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './pier-process.ts';

export interface Azurite {
  /** http://127.0.0.1:PORT/devstoreaccount1 */
  serviceUrl: string;
  accountName: string;
  accountKey: string;
  connectionString: string;
  logs(): string;
  stop(): Promise<void>;
}

/** Azurite's documented development account (public, the same in every installation). */
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const BIN = fileURLToPath(new URL('../../node_modules/azurite/dist/src/blob/main.js', import.meta.url));

export async function startAzurite(): Promise<Azurite> {
  if (!existsSync(BIN)) throw new Error('azurite missing: npm install (it is a devDependency of Pier)');
  const dir = mkdtempSync(join(tmpdir(), 'pier-azurite-'));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [BIN, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence', '--silent', '--disableTelemetry', '--skipApiVersionCheck'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) {
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const serviceUrl = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`azurite exited (${child.exitCode}): ${output}`);
    }
    try {
      await (await fetch(`${serviceUrl}?comp=list`)).arrayBuffer(); // any answer means it listens
      break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`azurite did not start within 30 s: ${output}`);
    }
    await sleep(100);
  }
  return {
    serviceUrl,
    accountName: ACCOUNT,
    accountKey: KEY,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=${serviceUrl};`,
    logs: () => output,
    stop,
  };
}
