/**
 * Fetches one commit of a git source with the system `git`: `git init`, a shallow `git fetch --depth 1`
 * of the commit (or of the branch or tag when no commit is given), checkout. Credentials never reach the
 * command line or the logs: an HTTPS token goes in through git's environment configuration
 * (GIT_CONFIG_COUNT/KEY/VALUE, an `http.extraHeader`), an SSH key through a 0600 file named in
 * GIT_SSH_COMMAND. Prompts are disabled, so a wrong credential fails instead of hanging.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GitSource } from '../model/definition.ts';
import type { SourceType } from '../model/build-rules.ts';

export interface FetchedSource {
  dir: string;
  commit: string;
  /** Committer time, seconds since the epoch. */
  commitTime: number;
}

export class GitError extends Error {}

/** The URL without anything that could be a credential, for logs. */
export function displayUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//');
}

function git(args: string[], cwd: string, env: NodeJS.ProcessEnv, signal: AbortSignal, secrets: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (error) => reject((error as NodeJS.ErrnoException).code === 'ENOENT' ? new GitError('git is not installed (Debian package git)') : error));
    child.on('close', (code) => {
      if (code === 0) return resolve(out.trim());
      let message = err.trim().split('\n').slice(-3).join(' ');
      for (const secret of secrets) if (secret) message = message.split(secret).join('[redacted]');
      reject(new GitError(`git ${args[0]} failed: ${message}`));
    });
  });
}

export async function fetchSource(source: GitSource, ref: { sourceType: SourceType; name: string; commit?: string }, dir: string, signal: AbortSignal): Promise<FetchedSource> {
  await mkdir(dir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ASKPASS: 'true',
    LANG: 'C',
  };
  const config: Array<[string, string]> = [['protocol.file.allow', 'never'], ['advice.detachedHead', 'false']];
  if (source.token) {
    const basic = Buffer.from(`${source.username ?? 'x-access-token'}:${source.token}`).toString('base64');
    config.push(['http.extraHeader', `Authorization: Basic ${basic}`]);
  }
  if (source.sshKey) {
    const keyFile = join(dir, '..', `ssh-key-${process.pid}`);
    await writeFile(keyFile, source.sshKey.endsWith('\n') ? source.sshKey : `${source.sshKey}\n`, { mode: 0o600 });
    env.GIT_SSH_COMMAND = `ssh -i '${keyFile}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='${join(dir, '..', 'known_hosts')}'`;
  }
  env.GIT_CONFIG_COUNT = String(config.length);
  config.forEach(([key, value], n) => {
    env[`GIT_CONFIG_KEY_${n}`] = key;
    env[`GIT_CONFIG_VALUE_${n}`] = value;
  });
  const secrets = source.token ? [source.token, Buffer.from(`${source.username ?? 'x-access-token'}:${source.token}`).toString('base64')] : [];
  const repo = join(dir, 'src');
  await mkdir(repo, { recursive: true });
  await git(['init', '-q'], repo, env, signal, secrets);
  const refspec = ref.sourceType === 'Tag' ? `refs/tags/${ref.name}` : `refs/heads/${ref.name}`;
  if (!/^[A-Za-z0-9._/-]{1,250}$/.test(ref.name) || ref.name.includes('..')) throw new GitError(`invalid ${ref.sourceType.toLowerCase()} name`);
  let fetched = false;
  if (ref.commit) {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref.commit)) throw new GitError('invalid commit id');
    fetched = await git(['fetch', '-q', '--depth', '1', '--no-tags', '--', source.url, ref.commit], repo, env, signal, secrets).then(
      () => true,
      () => false, // the server does not serve commits by id: fetch the ref, then check it
    );
  }
  if (!fetched) await git(['fetch', '-q', '--depth', '1', '--no-tags', '--', source.url, refspec], repo, env, signal, secrets);
  await git(['checkout', '-q', 'FETCH_HEAD'], repo, env, signal, secrets);
  const [commit, time] = (await git(['log', '-1', '--format=%H %ct'], repo, env, signal, secrets)).split(' ');
  if (ref.commit && commit !== ref.commit) throw new GitError(`${ref.sourceType.toLowerCase()} ${ref.name} is at ${commit!.slice(0, 12)} now, not at the pushed commit ${ref.commit.slice(0, 12)}, and the server does not serve commits by id`);
  return { dir: repo, commit: commit!, commitTime: Number(time) };
}
