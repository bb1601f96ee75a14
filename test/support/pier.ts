/** Starts Pier in this test process on a free loopback port, with its own temporary data directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../src/main/start-server.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { RegistryOptions } from '../../src/registry/context.ts';

export interface RunningPier {
  url: string;
  host: string;
  dataDir: string;
  close(): Promise<void>;
}

export async function startPier(opts: { dataDir?: string } & Partial<RegistryOptions> = {}): Promise<RunningPier> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'pier-test-'));
  const logger = createLogger(process.env.PIER_TEST_LOG === '1' ? 'debug' : 'silent');
  const running = await startServer({
    dataDir,
    listen: { host: '127.0.0.1', port: 0 },
    logger,
    registry: {
      ...opts,
      deleteEnabled: opts.deleteEnabled ?? true,
    },
  });
  const host = `127.0.0.1:${running.port}`;
  return {
    url: `http://${host}`,
    host,
    dataDir,
    async close() {
      await running.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
