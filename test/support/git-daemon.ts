/**
 * A git server on loopback for build tests: `git daemon` (part of Debian's git package) exporting one
 * folder of repositories over git:// on a free port, and helpers to make commits with fixed dates so
 * builds from them are reproducible.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { freePort } from './pier-process.ts';
import { requireTools } from './tools.ts';
import { run } from './client-env.ts';

export interface GitDaemon {
  /** `git://127.0.0.1:PORT/` — append a repository folder name. */
  baseUrl: string;
  root: string;
  stop(): Promise<void>;
}

export async function startGitDaemon(root: string): Promise<GitDaemon> {
  requireTools('git');
  const port = await freePort();
  const child: ChildProcess = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${root}`, '--listen=127.0.0.1', `--port=${port}`, '--informative-errors', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`git daemon exited: ${stderr} (Debian package git provides git daemon)`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) break;
    if (Date.now() > deadline) throw new Error(`git daemon did not listen within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    baseUrl: `git://127.0.0.1:${port}/`,
    root,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const FIXED = { GIT_AUTHOR_NAME: 'Pier Test', GIT_AUTHOR_EMAIL: 'test@pier.invalid', GIT_COMMITTER_NAME: 'Pier Test', GIT_COMMITTER_EMAIL: 'test@pier.invalid' };

export async function git(dir: string, args: string[], date = '2024-01-02T03:04:05Z'): Promise<string> {
  const env = { ...process.env, ...FIXED, GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' };
  return (await run('git', args, { cwd: dir, env })).stdout.trim();
}

/** Creates (or updates) a repository with `files`, commits them, and returns the commit id. */
export async function commitFiles(dir: string, files: Record<string, string | Buffer>, message: string, date?: string, executable: string[] = []): Promise<string> {
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '-q', '-b', 'main']).catch(() => undefined);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content, { mode: executable.includes(path) ? 0o755 : 0o644 });
  }
  await git(dir, ['add', '-A']);
  await git(dir, ['commit', '-q', '-m', message], date);
  return git(dir, ['rev-parse', 'HEAD']);
}
