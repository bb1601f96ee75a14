/**
 * `npm run bench [-- --quick] [-- --out FILE] [-- --only push,pull] [-- --pier auto|dist|tsx] [-- --pier-root DIR]
 *  [-- --pier-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"] [-- --no-reference-cache] [-- --keep-data] [-- --big-tags N]
 *  [-- --workers N]`
 *
 * Pier against the reference registry (CNCF Distribution, `docker-registry`) on this machine: both start on
 * loopback ports with fresh data directories; every workload runs in the order Pier, reference, reference,
 * Pier (A B B A, so a steady drift cancels out) with `sync` and a short rest between runs. The machine's
 * limits and the load generator's ceiling are measured in the same run. Progress goes to stderr, the
 * report to stdout, and everything to bench/results/<timestamp>.json.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { figureCatalog, WORKLOADS, type WorkloadId } from './figures.ts';
import { PROFILES, type Profile, type ProfileName } from './profiles.ts';
import { keepAliveAgent, request } from './http-client.ts';
import { measureMachineLimits } from './machine-limits.ts';
import { measureCeiling } from './loadgen-ceiling.ts';
import { processTree, residentBytes, ResourceWatch } from './process-stats.ts';
import { RegistryClient } from './registry-client.ts';
import { finishFigures, mean, renderReport, type BenchResults, type Failure, type FigureResult } from './report.ts';
import { launch, preparePier, REPO_ROOT, runPierCli, type LaunchOptions, type PierLaunch, type RunningServer, type ServerKind } from './servers.ts';
import type { BenchContext, RunOutput, Target, TargetKind, Workload } from './workload.ts';
import { bigBlobSource, pushWorkload } from './workloads/push.ts';
import { pullWorkload } from './workloads/pull.ts';
import { manifestsWorkload } from './workloads/manifests.ts';
import { stormWorkload } from './workloads/storm.ts';
import { smallImagesWorkload } from './workloads/small-images.ts';
import { listingsWorkload } from './workloads/listings.ts';
import { bigTagsWorkload } from './workloads/big-tags.ts';

const MiB = 1024 * 1024;

export interface BenchOptions {
  profile: ProfileName;
  /** Overrides the profile's tag count of the Pier-only big tag list (0 skips it). */
  bigTags?: number;
  out?: string;
  only?: WorkloadId[];
  pier: PierLaunch | 'auto';
  /** The Pier checkout to run; default this repository. */
  pierRoot: string;
  pierNodeArgs: string[];
  /** `pier serve --workers` (default: one per CPU core, as Pier's own default). */
  pierWorkers: number;
  referenceCache: boolean;
  keepData: boolean;
}

const ALL_WORKLOADS: Workload[] = [pushWorkload, pullWorkload, manifestsWorkload, stormWorkload, smallImagesWorkload, listingsWorkload, bigTagsWorkload];

/** Every server process started and not yet stopped: killed on exit whatever happens. */
const live = new Set<RunningServer>();
function killAllSync(): void {
  for (const server of live) {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function stopServer(server: RunningServer): Promise<void> {
  await server.stop();
  live.delete(server);
}

/** `sync`, then a short rest, so one run's dirty pages and CPU tail do not land on the next. */
async function settle(profile: Profile): Promise<void> {
  spawnSync('sync');
  await sleep(profile.restMs);
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function commandOutput(file: string, args: string[], fallback: string): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8' }).trim();
  } catch {
    return fallback;
  }
}

function dataFilesystem(dir: string): string {
  const [device, type] = (commandOutput('df', ['-T', dir], '').split('\n')[1] ?? '').split(/\s+/);
  return `${type ?? '?'} (${device ?? '?'})`;
}

export async function runBench(options: BenchOptions): Promise<BenchResults> {
  const profile: Profile = { ...PROFILES[options.profile], ...(options.bigTags !== undefined ? { bigTagCount: options.bigTags } : {}) };
  const began = performance.now();
  const startedAt = new Date().toISOString();
  const log = (line: string): void => {
    process.stderr.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  };
  const selected = new Set<WorkloadId>(options.only ?? WORKLOADS);
  const failures: Failure[] = [];
  const figures = new Map<string, FigureResult>(figureCatalog(profile).map((def) => [def.id, { ...def, pier: [], reference: [] }]));
  const runs: BenchResults['runs'] = [];
  const record = (kind: TargetKind, id: string, value: number): void => {
    const figure = figures.get(id);
    if (!figure) failures.push({ workload: id.split('.')[0] ?? id, target: 'bench', phase: 'run', message: `the bench produced figure "${id}" that is not in its catalog` });
    else figure[kind].push(value);
  };

  const pierLaunch = preparePier(options.pierRoot, options.pier, log);
  const launchOptions: LaunchOptions = { pierRoot: options.pierRoot, pierLaunch, pierNodeArgs: options.pierNodeArgs, pierWorkers: options.pierWorkers, referenceCache: options.referenceCache };
  const dataRoot = mkdtempSync(join(os.tmpdir(), 'pier-bench-'));
  const start = async (kind: ServerKind, dataDir: string): Promise<RunningServer> => {
    const server = await launch(kind, dataDir, launchOptions);
    live.add(server);
    return server;
  };
  const scratch: string[] = [];
  const scratchDir = (name: string, needs: { inodes: number; bytes: number }): { path: string; tmpfs: boolean } => {
    let path = join(dataRoot, name);
    let tmpfs = false;
    try {
      const fs = statfsSync('/dev/shm');
      if (fs.ffree > needs.inodes && fs.bavail * fs.bsize > needs.bytes) {
        path = mkdtempSync(join('/dev/shm', `pier-bench-${name}-`));
        scratch.push(path);
        tmpfs = true;
      }
    } catch {
      // no /dev/shm: stay beside the other data
    }
    return { path, tmpfs };
  };
  const ctx: BenchContext = { profile, log, launch: start, pierCli: (args) => runPierCli(launchOptions, args), scratchDir };
  log(`profile ${profile.name}; data under ${dataRoot}; Pier with ${options.pierWorkers} worker${options.pierWorkers === 1 ? ' (one process)' : 's'} from ${options.pierRoot} through ${pierLaunch}${options.pierNodeArgs.length ? ` with ${options.pierNodeArgs.join(' ')}` : ''}`);

  const targets = new Map<TargetKind, Target>();
  const makeTarget = (kind: TargetKind, server: RunningServer): Target => {
    const agent = keepAliveAgent(64);
    return { kind, server, agent, client: new RegistryClient(server.url, agent), state: new Map() };
  };

  try {
    // Machine limits and the load generator's ceiling, against the trivial server in its own process
    // (it stays up, idle, to measure the ceiling again at the end).
    const trivial = await start('trivial', join(dataRoot, 'trivial'));
    const tcpPort = Number((await request(trivial.url, '/tcp', { expect: 200 })).body.toString('utf8'));
    log('measuring machine limits');
    const limits = await measureMachineLimits(profile.limitBytes, dataRoot, tcpPort);
    log(`preparing the ${profile.bigBlobBytes / MiB} MiB blob source (random prefix + its SHA-256 state)`);
    const blobs = bigBlobSource(ctx);
    log('measuring the load generator ceiling');
    const ceilingRuns = [await measureCeiling(trivial.url, profile, blobs)];

    const machine: BenchResults['machine'] = {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      kernel: `${os.type()} ${os.release()}`,
      node: process.version,
      dataFilesystem: dataFilesystem(dataRoot),
      limits,
      pushLimit: Math.min(mean(limits.diskWrite), mean(limits.sha256)),
      pullLimit: Math.min(mean(limits.tcpDownload), mean(limits.fileRead)),
    };

    // Start-up: one unmeasured launch of each (so neither pays for a cold page cache), then four launches
    // A B B A on empty data directories; the last of each kind stays up for the workloads.
    for (const kind of ['pier', 'reference'] as const) {
      try {
        await stopServer(await start(kind, join(dataRoot, `${kind}-warmup`)));
      } catch (error) {
        failures.push({ workload: 'startup', target: kind, phase: 'launch', message: errorText(error) });
      }
      rmSync(join(dataRoot, `${kind}-warmup`), { recursive: true, force: true });
    }
    const order: TargetKind[] = ['pier', 'reference', 'reference', 'pier'];
    for (const [i, kind] of order.entries()) {
      await settle(profile);
      const dataDir = join(dataRoot, `${kind}-${i}`);
      let server: RunningServer;
      try {
        server = await start(kind, dataDir);
      } catch (error) {
        failures.push({ workload: 'startup', target: kind, phase: 'launch', message: errorText(error) });
        continue;
      }
      record(kind, 'startup.first200', server.startupMs);
      await sleep(500);
      record(kind, 'memory.idle', residentBytes(processTree(server.pid)) / MiB);
      log(`${kind} answered 200 on /v2/ ${server.startupMs.toFixed(0)} ms after spawn`);
      if (order.indexOf(kind, i + 1) === -1) {
        targets.set(kind, makeTarget(kind, server));
      } else {
        await stopServer(server);
        rmSync(dataDir, { recursive: true, force: true });
      }
    }

    for (const workload of ALL_WORKLOADS) {
      if (!selected.has(workload.id)) continue;
      if (workload.id === 'bigtags' && profile.bigTagCount === 0) continue;
      log(`workload ${workload.id}`);
      const kinds: TargetKind[] = workload.pierOnly ? ['pier'] : ['pier', 'reference'];
      const own = new Map<TargetKind, Target>();
      const broken = new Set<TargetKind>();
      const targetOf = (kind: TargetKind): Target | undefined => (workload.dedicated ? own.get(kind) : targets.get(kind));
      for (const kind of kinds) {
        try {
          if (workload.dedicated) {
            const dataDir = workload.dedicatedDataDir?.(ctx) ?? join(dataRoot, `${kind}-${workload.id}`);
            own.set(kind, makeTarget(kind, await start(kind, dataDir)));
          }
          const target = targetOf(kind);
          if (!target) throw new Error(`no ${kind} server (it failed to start or died earlier)`);
          const out = await workload.setup?.(ctx, target);
          if (out) for (const [id, value] of Object.entries(out.figures)) record(kind, id, value);
          if (out?.info) runs.push({ workload: workload.id, target: kind, run: -1, seconds: 0, loadgenCpuShare: 0, foreignCores: 0, info: out.info });
        } catch (error) {
          broken.add(kind);
          failures.push({ workload: workload.id, target: kind, phase: 'setup', message: errorText(error), serverOutput: targetOf(kind)?.server.output() ?? '' });
          log(`  ${kind} setup FAILED: ${errorText(error)}`);
        }
      }
      const sequence: TargetKind[] = workload.pierOnly ? ['pier', 'pier'] : ['pier', 'reference', 'reference', 'pier'];
      for (const [run, kind] of sequence.entries()) {
        const target = targetOf(kind);
        if (!target || broken.has(kind)) continue;
        await settle(profile);
        const watch = new ResourceWatch(target.server.pid);
        let out: RunOutput | undefined;
        try {
          out = await workload.run(ctx, target, run);
        } catch (error) {
          broken.add(kind);
          failures.push({ workload: workload.id, target: kind, phase: 'run', run, message: errorText(error), serverOutput: target.server.output() });
          log(`  ${kind} run ${run} FAILED: ${errorText(error)}`);
        }
        const usage = watch.stop();
        if (!target.server.alive()) {
          failures.push({ workload: workload.id, target: kind, phase: 'run', run, message: 'the server process died', serverOutput: target.server.output() });
          broken.add(kind);
          if (!workload.dedicated) targets.delete(kind);
        }
        if (!out) continue;
        for (const [id, value] of Object.entries(out.figures)) record(kind, id, value);
        record(kind, `resources.${workload.id}.rssPeak`, usage.peakBytes / MiB);
        record(kind, `resources.${workload.id}.cpu`, usage.cpuSeconds);
        for (const problem of out.problems ?? []) failures.push({ workload: workload.id, target: kind, phase: 'run', run, message: problem });
        const { wallSeconds: seconds, loadgenCpuShare, foreignCores } = usage;
        runs.push({ workload: workload.id, target: kind, run, seconds, loadgenCpuShare, foreignCores, ...(out.info ? { info: out.info } : {}) });
        const shown = Object.entries(out.figures).slice(0, 4).map(([id, value]) => `${id}=${value.toFixed(1)}`);
        log(
          `  ${kind} run ${run}: ${shown.join(' ')}${Object.keys(out.figures).length > 4 ? ' …' : ''} ` +
            `(${seconds.toFixed(1)} s, server cpu ${usage.cpuSeconds.toFixed(2)} s, loadgen ${(loadgenCpuShare * 100).toFixed(0)}% of a core, other processes ${foreignCores.toFixed(2)} cores)`,
        );
      }
      for (const target of own.values()) {
        target.agent.destroy();
        await stopServer(target.server);
      }
    }

    if (profile.ceilingTwice) {
      log('measuring the load generator ceiling again (request rates)');
      ceilingRuns.push(await measureCeiling(trivial.url, profile));
    }
    await stopServer(trivial);
    for (const target of targets.values()) {
      record(target.kind, 'memory.idleEnd', residentBytes(processTree(target.server.pid)) / MiB);
      target.agent.destroy();
    }

    // A ceiling is the best the generator managed: noise from other processes only lowers it.
    const ceiling: Record<string, number> = {};
    const ceilingSamples: Record<string, number[]> = {};
    for (const sample of ceilingRuns) {
      for (const [id, value] of Object.entries(sample)) {
        (ceilingSamples[id] ??= []).push(value);
        ceiling[id] = Math.max(ceiling[id] ?? 0, value);
      }
    }
    const results: BenchResults = {
      version: 1,
      profile: profile.name,
      startedAt,
      finishedAt: new Date().toISOString(),
      durationSeconds: (performance.now() - began) / 1000,
      order: 'A B B A (A = Pier, B = reference)',
      machine,
      ceiling,
      ceilingSamples,
      servers: {
        pier: `${pierLaunch === 'dist' ? 'node dist/cli/main.js' : 'node --import tsx src/cli/main.ts'} serve --delete --log-level warn --workers ${options.pierWorkers}${options.pierNodeArgs.length ? ` (node ${options.pierNodeArgs.join(' ')})` : ''} in ${options.pierRoot}`,
        reference: `${commandOutput('docker-registry', ['--version'], 'docker-registry')}, filesystem storage, delete enabled, access log off${options.referenceCache ? ', blobdescriptor cache inmemory (its shipped default)' : ''}`,
      },
      figures: [...figures.values()],
      runs,
      failures,
    };
    finishFigures(results.figures, machine, ceiling);
    return results;
  } finally {
    for (const server of [...live]) {
      const stopping = performance.now();
      await stopServer(server).catch(() => undefined);
      log(`stopped ${server.kind} in ${(performance.now() - stopping).toFixed(0)} ms`);
    }
    if (options.keepData) log(`data kept in ${[dataRoot, ...scratch].join(' ')}`);
    else removeInBackground([dataRoot, ...scratch], log);
  }
}

/**
 * Removes the data directories in a detached, low-priority `rm -rf`: deleting hundreds of thousands of
 * small files takes minutes on some disks (ext4 with online discard), which is no part of the bench.
 */
function removeInBackground(dirs: string[], log: (line: string) => void): void {
  try {
    const child = spawn('nice', ['-n', '19', 'ionice', '-c', '3', 'rm', '-rf', '--', ...dirs], { detached: true, stdio: 'ignore' });
    child.once('error', () => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });
    child.unref();
    log(`removing ${dirs.join(' ')} in the background (pid ${child.pid})`);
  } catch {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      only: { type: 'string' },
      pier: { type: 'string', default: 'auto' },
      'pier-root': { type: 'string', default: REPO_ROOT },
      'pier-node-args': { type: 'string', default: '' },
      'no-reference-cache': { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      'big-tags': { type: 'string' },
      workers: { type: 'string' },
    },
  });
  const only = values.only?.split(',').map((w) => w.trim()).filter(Boolean);
  for (const w of only ?? []) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--only: unknown workload "${w}" (known: ${WORKLOADS.join(', ')})`);
  if (!['auto', 'dist', 'tsx'].includes(values.pier)) throw new Error('--pier must be auto, dist or tsx');
  const bigTags = values['big-tags'] === undefined ? undefined : Number(values['big-tags']);
  if (bigTags !== undefined && !(Number.isInteger(bigTags) && bigTags >= 0)) throw new Error('--big-tags must be a whole number');
  const workers = values.workers === undefined ? os.availableParallelism() : Number(values.workers);
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error('--workers must be a whole number of at least 1');
  return {
    profile: values.quick ? 'quick' : 'full',
    pierWorkers: workers,
    ...(bigTags !== undefined ? { bigTags } : {}),
    ...(values.out ? { out: resolve(values.out) } : {}),
    ...(only ? { only: only as WorkloadId[] } : {}),
    pier: values.pier as BenchOptions['pier'],
    pierRoot: resolve(values['pier-root']),
    pierNodeArgs: values['pier-node-args'].split(/\s+/).filter(Boolean),
    referenceCache: !values['no-reference-cache'],
    keepData: values['keep-data'],
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  process.once('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const results = await runBench(options);
  const out = options.out ?? join(REPO_ROOT, 'bench', 'results', `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${renderReport(results)}\n\nresults: ${out}\n`);
  if (results.failures.length > 0) process.exitCode = 2;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
