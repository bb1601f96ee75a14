/**
 * A server's resident memory and CPU time, read from /proc for the process and all its descendants
 * (Pier may run more than one process; the figures are sums over the tree).
 *
 * Peak memory of a workload: the kernel's VmHWM, reset at the start of the workload by writing 5 to
 * /proc/<pid>/clear_refs (our own child, so allowed), combined with VmRSS sampled every 50 ms.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces): index 0 is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** The pid and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (!fields) continue;
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const text = readText(`/proc/${pid}/status`);
  const match = text === undefined ? null : new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

/** Resident memory of the tree, in bytes. */
export function residentBytes(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmRSS'), 0) * 1024;
}

/** CPU seconds (user + system) used so far by the tree, including reaped children of each process. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const f = statFields(pid);
    if (!f) continue;
    // utime, stime, cutime, cstime are fields 14-17; f[0] is field 3.
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / clockTicks();
}

/** CPU seconds used by the whole machine so far (all cores, /proc/stat: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = readText('/proc/stat')?.split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1).map(Number);
  const total = ticks.slice(0, 8).reduce((sum, t) => sum + (Number.isFinite(t) ? t : 0), 0);
  return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / clockTicks();
}

/**
 * Tracks one server's memory peak and CPU time over a workload run, and how busy the rest of the machine
 * was meanwhile (CPU used by neither the server nor the load generator: other jobs on a shared machine).
 */
export class ResourceWatch {
  private pids: number[];
  private peak = 0;
  private hwmReset = false;
  private readonly timer: NodeJS.Timeout;
  private readonly cpuStart: number;
  private readonly started = process.hrtime.bigint();
  private readonly ownCpuStart = process.cpuUsage();
  private readonly machineStart = machineBusySeconds();

  constructor(private readonly root: number) {
    this.pids = processTree(root);
    this.hwmReset = this.pids.every((pid) => {
      try {
        writeFileSync(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    });
    this.cpuStart = cpuSeconds(this.pids);
    this.sample();
    let ticks = 0;
    this.timer = setInterval(() => {
      if (++ticks % 20 === 0) this.pids = processTree(this.root);
      this.sample();
    }, 50);
    this.timer.unref();
  }

  private sample(): void {
    this.peak = Math.max(this.peak, residentBytes(this.pids));
  }

  /**
   * Stops watching: peak resident bytes, server CPU seconds, the load generator's own CPU share (of one
   * core), and the other processes' CPU in cores.
   */
  stop(): { peakBytes: number; cpuSeconds: number; wallSeconds: number; loadgenCpuShare: number; foreignCores: number } {
    clearInterval(this.timer);
    this.sample();
    const hwm = this.hwmReset ? this.pids.reduce((sum, pid) => sum + statusKiB(pid, 'VmHWM'), 0) * 1024 : 0;
    const wallSeconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    const own = process.cpuUsage(this.ownCpuStart);
    const ownSeconds = (own.user + own.system) / 1e6;
    const server = cpuSeconds(this.pids) - this.cpuStart;
    const machine = machineBusySeconds() - this.machineStart;
    return {
      peakBytes: Math.max(this.peak, hwm),
      cpuSeconds: server,
      wallSeconds,
      loadgenCpuShare: ownSeconds / wallSeconds,
      foreignCores: Math.max(0, machine - server - ownSeconds) / wallSeconds,
    };
  }
}
