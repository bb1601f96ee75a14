/**
 * Shared fixtures for the configuration, TLS and access-control tests: a throw-away PKI made with openssl
 * (a server CA, a server certificate for 127.0.0.1/localhost, a client CA and client certificate), htpasswd
 * files, token signing keys, Pier started in this process or as `pier serve` with a config file, and a small
 * HTTP(S) client that can present a CA, a client certificate and credentials.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { startServer, type RunningServer, type StartOptions } from '../../src/main/start-server.ts';
import { createLogger, type Logger } from '../../src/observability/logger.ts';
import { hashPassword } from '../../src/auth/htpasswd.ts';
import { loadConfigOrThrow } from '../../src/config/load.ts';
import { settingsFromConfig } from '../../src/config/serve-settings.ts';

export const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `pier-${label}-`));
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCaCert: string;
  clientCert: string;
  clientKey: string;
}

/** A CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost), plus a client CA and client certificate. */
export function makePki(dir: string): Pki {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Pier Test CA'], dir);
  openssl(['req', '-x509', ...ec, '-keyout', 'client-ca.key', '-out', 'client-ca.crt', '-days', '2', '-subj', '/CN=Pier Test Client CA'], dir);
  issueServerCertificate(dir, 'server');
  openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=pier-client'], dir);
  openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'client-ca.crt', '-CAkey', 'client-ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2'], dir);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCaCert: join(dir, 'client-ca.crt'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** Issues `<name>.crt`/`<name>.key` for 127.0.0.1 and localhost from the PKI's CA (a fresh serial each time). */
export function issueServerCertificate(dir: string, name: string, commonName = 'localhost'): { cert: string; key: string } {
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', 'san.cnf'], dir);
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** An EC P-256 private key (PEM) for signing tokens, and a self-signed certificate of it. */
export function makeSigningKey(dir: string, name: string): { key: string; cert: string } {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
}

/** An htpasswd file with bcrypt entries (cost 4: fast tests). */
export async function writeHtpasswd(path: string, users: Record<string, string>): Promise<void> {
  const lines = await Promise.all(Object.entries(users).map(async ([user, password]) => `${user}:${await hashPassword(password, 4)}`));
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = unknown>(): T;
  text(): string;
  /** The server certificate's SHA-256 fingerprint (TLS only). */
  peerFingerprint?: string;
  alpnProtocol?: string | false | null;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string;
  ca?: string | Buffer;
  cert?: Buffer;
  key?: Buffer;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** The client's own address (any of 127.0.0.0/8 works on loopback): another "client" for rate limits. */
  localAddress?: string;
}

/** One request on a fresh connection (no keep-alive), over http or https. */
export function send(url: string, options: RequestOptions = {}): Promise<Reply> {
  const target = new URL(url);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  return new Promise((resolve, reject) => {
    const common = {
      method: options.method ?? 'GET',
      hostname: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      headers: { ...(body ? { 'Content-Length': body.length } : {}), ...options.headers },
      agent: false as const,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    };
    const onResponse = (res: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buffer = Buffer.concat(chunks);
        const socket = res.socket as TLSSocket | null;
        const peer = socket && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buffer,
          json: <T>() => JSON.parse(buffer.toString('utf8')) as T,
          text: () => buffer.toString('utf8'),
          ...(peer && peer.raw ? { peerFingerprint: createHash('sha256').update(peer.raw).digest('hex') } : {}),
          ...(socket && 'alpnProtocol' in socket ? { alpnProtocol: socket.alpnProtocol } : {}),
        });
      });
      res.on('error', reject);
    };
    const req =
      target.protocol === 'https:'
        ? httpsRequest(
            {
              ...common,
              ...(options.ca ? { ca: options.ca } : {}),
              ...(options.cert ? { cert: options.cert, key: options.key } : {}),
              ...(options.minVersion ? { minVersion: options.minVersion } : {}),
              ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
            },
            onResponse,
          )
        : httpRequest(common, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a one-layer image (monolithic blob uploads, then the manifest); returns the manifest digest. */
export async function pushImage(base: string, repo: string, tag: string, options: RequestOptions = {}, seed = repo): Promise<{ digest: string; status: number }> {
  const layer = Buffer.from(`layer of ${seed}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const blob of [layer, config]) {
    const res = await send(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { ...options, method: 'POST', body: blob, headers: { ...options.headers, 'Content-Type': 'application/octet-stream' } });
    if (res.status !== 201) return { digest: '', status: res.status };
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    }),
  );
  const res = await send(`${base}/v2/${repo}/manifests/${tag}`, {
    ...options,
    method: 'PUT',
    body: manifest,
    headers: { ...options.headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  return { digest: sha256(manifest), status: res.status };
}

/** A logger writing JSON lines into memory, for tests that read the log. */
export function memoryLogger(level: 'debug' | 'info' | 'warn' = 'debug'): { logger: Logger; text(): string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger(level, sink), text: () => lines.join('') };
}

export interface InProcessPier {
  running: RunningServer;
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts Pier in this process from a config.yml text (as `pier serve` would read it), on 127.0.0.1 and a free
 * port, with its own data directory.
 */
export async function startFromConfig(
  yaml: string,
  options: { logger?: Logger; env?: NodeJS.ProcessEnv; htpasswdCheckMs?: number; dataDir?: string } = {},
): Promise<InProcessPier> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? tempDir('data');
  const { config, notices } = loadConfigOrThrow({ text: yaml, file: 'config.yml', env: options.env ?? {}, flags: { addr: '127.0.0.1:0', data: dataDir } });
  const settings = settingsFromConfig(config, notices);
  const authConfigured = config.auth.htpasswd !== undefined || config.auth.token !== undefined;
  const start: StartOptions = {
    dataDir,
    listen: settings.listen,
    logger: options.logger ?? createLogger(process.env.PIER_TEST_LOG === '1' ? 'debug' : 'silent'),
    registry: { deleteEnabled: settings.deleteEnabled },
    drainTimeoutMs: 2000,
    ...(settings.tls ? { tls: settings.tls } : {}),
    readOnly: settings.readOnly,
    headers: settings.headers,
    ...(authConfigured
      ? { access: { auth: config.auth, access: config.access, htpasswdOptions: { checkIntervalMs: options.htpasswdCheckMs ?? 0 } } }
      : {}),
    ...(settings.uploadPurging ? { maintenance: { uploadPurging: settings.uploadPurging } } : {}),
  };
  const running = await startServer(start);
  return {
    running,
    url: `${running.scheme}://127.0.0.1:${running.port}`,
    dataDir,
    async close() {
      await running.close();
      if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface PierChild {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** Runs `pier <args>` as a child process (tsx), collecting its output. */
export function spawnPier(args: string[], env: NodeJS.ProcessEnv, input?: string): PierChild {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stdin!.end(input);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Waits until `probe` resolves true, or throws with the process output after `timeoutMs`. */
export async function waitFor(probe: () => Promise<boolean>, what: string, pier?: PierChild, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (pier && pier.child.exitCode !== null) throw new Error(`pier exited early (${pier.child.exitCode}) while waiting for ${what}:\n${pier.output()}`);
    try {
      if (await probe()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${pier ? `:\n${pier.output()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A clean environment for a `pier` child: PATH and HOME only (REGISTRY_* set by the test). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...extra };
}
