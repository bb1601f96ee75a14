/**
 * A private scratch world for the real registry clients (skopeo, podman, buildah).
 *
 * Left alone, these clients write into the machine's shared container storage, network config, auth file and
 * signature policy, and parallel tests trip over each other. `createClientEnv` makes one folder under
 * os.tmpdir() holding everything they touch — vfs storage.conf, containers.conf, registries.conf, policy.json,
 * auth file, XDG/TMP dirs — and an environment pointing at it (see shared/clients.md). `close()` removes it.
 *
 * `run` is the one way tests start a child process: it always has a timeout, kills the whole process group when
 * the timeout fires, and rejects with the command line, exit status, stdout and stderr when the command fails.
 *
 * As root, containers/image keeps a blob-info cache at /var/lib/containers/cache that no flag moves. It records
 * where blobs were seen (host:port/repo), so it would leak state between runs and tests (ports get reused). When
 * possible each client command therefore runs under `unshare --mount` with an empty private tmpfs on that folder;
 * if the machine does not allow that, the shared cache is accepted (it is only a cache).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface RunOptions {
  /** The complete environment of the child (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** Kill the command (and its process group) after this long; default 60 s. */
  timeoutMs?: number;
  cwd?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Shell-like rendering of a command line, for error messages. */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(quote).join(' ');
}

/**
 * Runs `cmd args`, resolving with its output when it exits 0. Rejects with the command line, exit status,
 * stdout and stderr otherwise, and when it outlives `timeoutMs` (the whole process group is then killed).
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const line = commandLine(cmd, args);
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills grandchildren too
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${line}: could not start: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0 && !timedOut) {
        resolve({ stdout, stderr });
        return;
      }
      const status = timedOut
        ? `timed out after ${timeoutMs} ms`
        : signal !== null
          ? `killed by ${signal}`
          : `exited with ${code}`;
      reject(new Error(`${line}\n${status}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    });
    child.stdin.on('error', () => {
      // the child may exit before reading its input; its exit status tells the story
    });
    child.stdin.end(opts.input);
  });
}

const BLOB_INFO_CACHE_DIR = '/var/lib/containers/cache';
const PRIVATE_CACHE_SCRIPT = `mkdir -p ${BLOB_INFO_CACHE_DIR} && mount -t tmpfs -o mode=0700 tmpfs ${BLOB_INFO_CACHE_DIR} && exec "$@"`;

let privateCacheSupported: boolean | undefined;

/** True when client commands can get an empty private blob-info cache (root, with mount namespaces). */
function canUsePrivateBlobInfoCache(): boolean {
  if (privateCacheSupported === undefined) {
    privateCacheSupported =
      process.getuid?.() === 0 &&
      spawnSync('unshare', ['--mount', 'sh', '-c', PRIVATE_CACHE_SCRIPT, 'sh', 'true'], {
        stdio: 'ignore',
        timeout: 10_000,
      }).status === 0;
  }
  return privateCacheSupported;
}

export interface ClientEnv {
  /** The scratch folder; everything the clients write lives under it. */
  readonly dir: string;
  /** The environment for client commands (CONTAINERS_*, REGISTRY_AUTH_FILE, XDG_*, TMPDIR, HOME, PATH). */
  readonly env: NodeJS.ProcessEnv;
  /** policy.json accepting everything: `skopeo --policy`, `buildah|podman … --signature-policy`. */
  readonly policyPath: string;
  /** A path under the scratch folder's work area (its parent folder is created; the path itself is not). */
  path(...segments: string[]): Promise<string>;
  /** Flags selecting a new, empty vfs store named `name` for podman/buildah (`--root … --runroot …`). */
  freshStore(name: string): Promise<string[]>;
  /** `skopeo --policy POLICY args…` */
  skopeo(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  buildah(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  podman(args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs any command with this environment (merged with opts.env). */
  run(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Removes the scratch folder. */
  close(): Promise<void>;
}

/** Creates a scratch folder `os.tmpdir()/<label>-XXXXXX` with client configuration isolated inside it. */
export async function createClientEnv(label = 'pier-clients'): Promise<ClientEnv> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  const p = (...segments: string[]): string => join(dir, ...segments);
  const folders = [
    'storage/graph', 'storage/run', 'stores', 'tmp', 'net', 'home', 'xdg-runtime', 'xdg-config', 'xdg-data',
    'docker-config', 'work',
  ];
  await Promise.all(folders.map((f) => mkdir(p(f), { recursive: true, mode: 0o700 })));

  const policyPath = p('policy.json');
  const policy = JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }) + '\n';
  await writeFile(policyPath, policy);
  // Also where containers/image looks when a command has no policy flag (e.g. `podman manifest push`).
  await mkdir(p('home', '.config', 'containers'), { recursive: true });
  await writeFile(p('home', '.config', 'containers', 'policy.json'), policy);
  await writeFile(
    p('storage.conf'),
    `[storage]\ndriver = "vfs"\ngraphroot = "${p('storage/graph')}"\nrunroot = "${p('storage/run')}"\n`,
  );
  await writeFile(
    p('containers.conf'),
    [
      '[engine]',
      'events_logger = "none"',
      'cgroup_manager = "cgroupfs"',
      `tmp_dir = "${p('tmp')}"`,
      `image_copy_tmp_dir = "${p('tmp')}"`,
      '[network]',
      'network_backend = "cni"',
      `network_config_dir = "${p('net')}"`,
      '',
    ].join('\n'),
  );
  await writeFile(p('registries.conf'), 'unqualified-search-registries = []\n');
  await writeFile(p('auth.json'), '{"auths":{}}\n', { mode: 0o600 });

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    HOME: p('home'),
    TMPDIR: p('tmp'),
    CONTAINERS_STORAGE_CONF: p('storage.conf'),
    CONTAINERS_CONF: p('containers.conf'),
    CONTAINERS_REGISTRIES_CONF: p('registries.conf'),
    REGISTRY_AUTH_FILE: p('auth.json'),
    DOCKER_CONFIG: p('docker-config'),
    XDG_RUNTIME_DIR: p('xdg-runtime'),
    XDG_CONFIG_HOME: p('xdg-config'),
    XDG_DATA_HOME: p('xdg-data'),
  };

  const runHere = (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    run(cmd, args, { ...opts, env: { ...env, ...opts.env } });
  const runClient = (cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> =>
    canUsePrivateBlobInfoCache()
      ? runHere('unshare', ['--mount', 'sh', '-c', PRIVATE_CACHE_SCRIPT, 'sh', cmd, ...args], opts)
      : runHere(cmd, args, opts);

  let stores = 0;
  return {
    dir,
    env,
    policyPath,
    async path(...segments) {
      const full = p('work', ...segments);
      await mkdir(dirname(full), { recursive: true });
      return full;
    },
    async freshStore(name) {
      const root = p('stores', `${name}-${++stores}`);
      await mkdir(join(root, 'graph'), { recursive: true });
      await mkdir(join(root, 'run'), { recursive: true });
      return ['--root', join(root, 'graph'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs'];
    },
    skopeo: (args, opts) => runClient('skopeo', ['--policy', policyPath, ...args], opts),
    buildah: (args, opts) => runClient('buildah', args, opts),
    podman: (args, opts) => runClient('podman', args, opts),
    run: runHere,
    async close() {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
