/**
 * A write that fails because the file system holding the data directory is full (ENOSPC) or over a quota
 * (EDQUOT) becomes STORAGE_FULL (507): the client learns what happened, and the log line names the file
 * system (its mount point and type, from /proc/self/mountinfo), so an operator knows what to grow.
 * The client's message does not name paths.
 */
import { readFileSync } from 'node:fs';
import { RegistryError } from '../../registry/errors.ts';

export class StorageFullError extends RegistryError {
  constructor(
    /** Mount point, type and source of the full file system (for the log, not the client). */
    readonly filesystem: { mountPoint: string; type: string; source: string; root: string },
    readonly underlying: Error,
  ) {
    super('STORAGE_FULL', 'storage is full: the registry cannot store more data until space is freed');
    this.name = 'StorageFullError';
  }

  /** The log's account (the client gets only the message above). */
  describe(): string {
    const { type, mountPoint, source, root } = this.filesystem;
    return `no space left on the ${type} file system mounted at ${mountPoint} (${source}), which holds ${root}`;
  }
}

export function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Rethrows a no-space error as StorageFullError naming the file system that holds `root`; others as they are. */
export function rethrowIfFull(error: unknown, root: string): never {
  if (isNoSpace(error)) throw new StorageFullError(filesystemOf(root), error as Error);
  throw error;
}

/** The mount that holds `path`: the longest mount point that is a prefix of it. */
export function filesystemOf(path: string): { mountPoint: string; type: string; source: string; root: string } {
  let best = { mountPoint: '/', type: 'unknown', source: 'unknown', root: path };
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const [left, right] = line.split(' - ');
      if (!left || !right) continue;
      const mountPoint = unescape(left.split(' ')[4] ?? '');
      const [type = 'unknown', source = 'unknown'] = right.split(' ');
      const inside = path === mountPoint || path.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
      if (inside && mountPoint.length >= best.mountPoint.length) best = { mountPoint, type, source, root: path };
    }
  } catch {
    // not Linux: the path alone
  }
  return best;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
