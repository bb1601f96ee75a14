/**
 * Who holds a lock in the SQLite index, and whether that holder is still alive.
 *
 * SQLite has no sessions, so a lock row cannot die with its holder on its own. Instead every row names
 * its holder precisely enough to check: the host (hostname and PID namespace, so two containers sharing a
 * volume are never confused), the boot (a reboot ends every holder), the process id and the process's
 * start time (a recycled process id is a different process). On the same host, a holder that no longer
 * runs is dead at once; a holder on another host cannot be checked and keeps its lock until its lease
 * runs out.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

export interface LockHolder {
  host: string;
  boot: string;
  pid: number;
  /** Process start time in clock ticks since boot (Linux), '' where it cannot be read. */
  started: string;
}

function readOr(read: () => string, fallback: string): string {
  try {
    return read().trim();
  } catch {
    return fallback;
  }
}

/**
 * Field 22 of /proc/<pid>/stat: the process start time; undefined for no process, and for a zombie (state Z
 * or X): a killed process whose parent has not reaped it yet — common in containers whose PID 1 reaps
 * nothing — still has a /proc entry but holds nothing. The command name (field 2) may hold spaces.
 */
function processStart(pid: number | 'self'): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19] ?? '';
}

const self: LockHolder = {
  host: `${hostname()}/${readOr(() => readlinkSync('/proc/self/ns/pid'), '')}`,
  boot: readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8'), ''),
  pid: process.pid,
  started: processStart('self') ?? '',
};

/** This process, as a lock holder. */
export function thisHolder(): LockHolder {
  return self;
}

/** Whether a holder on THIS host (same `host`) still runs. */
export function isAliveHere(boot: string, pid: number, started: string): boolean {
  if (boot !== self.boot) return false; // the machine rebooted since the lock was taken
  if (pid === self.pid) return started === self.started;
  const start = processStart(pid);
  if (start !== undefined) return started === '' || start === started;
  if (self.started !== '') return false; // /proc works here and has no such process
  try {
    process.kill(pid, 0); // no /proc (not Linux): existence is all we can check
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
