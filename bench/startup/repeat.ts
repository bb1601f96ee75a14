/**
 * Start-up over repeated starts: spawns `pier serve` N times on the same data directory (or a fresh empty
 * one each time), and reports per start the time from spawn to the first 200 on /v2/, the time until every
 * worker serves, and the CPU seconds the process tree had used at the first 200 (utime+stime, which a
 * shared machine disturbs far less than wall time). Prints medians.
 *
 *   node --import tsx bench/startup/repeat.ts [--runs 10] [--workers 2] [--data DIR | (empty dir each run)]
 *     [--pier-root DIR (a checkout with dist/cli/main.js; default this one)] [--env K=V]...
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, processTree } from '../process-stats.ts';
import { freePort } from '../servers.ts';

const args = process.argv.slice(2);
const arg = (name: string, fallback?: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const runs = Number(arg('runs', '10'));
const workers = Number(arg('workers', '2'));
const fixedData = arg('data');
const root = arg('pier-root', new URL('../..', import.meta.url).pathname)!;
const extraEnv = Object.fromEntries(args.flatMap((a, i) => (a === '--env' ? [args[i + 1]!.split(/=(.*)/s).slice(0, 2)] : [])));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}

async function once(): Promise<{ first200: number; allServing: number; cpuAt200: number; cpuAllServing: number }> {
  const data = fixedData ?? mkdtempSync(join(tmpdir(), 'pier-start-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'serve', '--addr', `127.0.0.1:${port}`, '--data', data, '--delete', '--log-level', 'warn', '--workers', String(workers)], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...extraEnv },
  });
  const url = `http://127.0.0.1:${port}`;
  let first200 = 0;
  let cpuAt200 = 0;
  for (;;) {
    const res = await get(`${url}/v2/`);
    if (res?.status === 200) {
      first200 = performance.now() - started;
      cpuAt200 = cpuSeconds(processTree(child.pid!));
      break;
    }
    if (child.exitCode !== null) throw new Error(`pier exited with ${child.exitCode}`);
    if (performance.now() - started > 60_000) throw new Error('no 200 within 60 s');
    await sleep(2);
  }
  let allServing = first200;
  if (workers > 1) {
    for (;;) {
      const res = await get(`${url}/metrics`);
      const m = res && /^pier_serving_processes (\d+)/m.exec(res.body);
      if (m && Number(m[1]) >= workers) break;
      await sleep(5);
    }
    allServing = performance.now() - started;
  }
  const cpuAllServing = cpuSeconds(processTree(child.pid!));
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  if (!fixedData) rmSync(data, { recursive: true, force: true });
  return { first200, allServing, cpuAt200, cpuAllServing };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

await once(); // unmeasured: warms the page cache and writes V8's code cache
const results = [];
for (let i = 0; i < runs; i++) {
  const r = await once();
  results.push(r);
  process.stderr.write(`run ${i + 1}: first 200 ${r.first200.toFixed(0)} ms, all serving ${r.allServing.toFixed(0)} ms, CPU at first 200 ${(r.cpuAt200 * 1000).toFixed(0)} ms, at all serving ${(r.cpuAllServing * 1000).toFixed(0)} ms\n`);
}
const summary = {
  root,
  workers,
  data: fixedData ?? '(empty, fresh each run)',
  runs,
  medianFirst200Ms: Math.round(median(results.map((r) => r.first200))),
  minFirst200Ms: Math.round(Math.min(...results.map((r) => r.first200))),
  medianAllServingMs: Math.round(median(results.map((r) => r.allServing))),
  medianCpuAt200Ms: Math.round(median(results.map((r) => r.cpuAt200)) * 1000),
  medianCpuAllServingMs: Math.round(median(results.map((r) => r.cpuAllServing)) * 1000),
};
console.log(JSON.stringify(summary));
