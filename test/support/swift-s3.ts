/**
 * A real S3 endpoint for tests: OpenStack Swift (Debian's packages) with its `s3api` middleware and
 * `tempauth`, on loopback free ports, in a scratch directory. One-device rings are built with
 * swift-ring-builder; the account, container and object servers, the proxy and memcached (tempauth's token
 * cache) run as child processes under `eatmydata` (no fsync: a test store need not survive a power cut) and
 * are stopped by PID.
 *
 * Unlike lightweight S3 mocks, Swift's s3api serves every call an S3 registry driver makes: multipart
 * uploads with ListMultipartUploads, ListParts, UploadPartCopy and AbortMultipartUpload, multi-key
 * DeleteObjects, ranged GETs and presigned URLs.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './pier-process.ts';
import { findOnPath } from './tools.ts';

export interface SwiftS3 {
  /** http://127.0.0.1:PORT: the S3 endpoint (path-style). */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  /** Creates a bucket (PUT /bucket) and returns its name. */
  createBucket(name: string): Promise<string>;
  /** The environment an S3 client in this test should run with: no AWS_* variable from outside. */
  clientEnv(): NodeJS.ProcessEnv;
  logs(): string;
  stop(): Promise<void>;
}

const PROGRAMS: Record<string, string> = {
  'swift-ring-builder': 'swift',
  'swift-proxy-server': 'swift-proxy',
  'swift-account-server': 'swift-account',
  'swift-container-server': 'swift-container',
  'swift-object-server': 'swift-object',
  memcached: 'memcached',
  eatmydata: 'eatmydata',
};

function requireSwift(): void {
  const missing = Object.entries(PROGRAMS).filter(([program]) => findOnPath(program) === undefined);
  if (missing.length > 0) {
    throw new Error(`S3 tests need OpenStack Swift: ${missing.map(([p, pkg]) => `${p} missing: apt-get install ${pkg}`).join('; ')}`);
  }
}

/** Every AWS_* variable removed, so a CA bundle, profile or region from the machine cannot change the SDK. */
export function withoutAwsVariables(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('AWS_')));
}

const ACCESS_KEY = 'pier:tester';
const SECRET_KEY = 'pier-swift-secret';

function serverConf(kind: 'account' | 'container' | 'object', port: number, dir: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
devices = ${join(dir, 'srv')}
mount_check = false
swift_dir = ${dir}
log_level = WARNING
log_name = ${kind}-server
disable_fallocate = true

[pipeline:main]
pipeline = ${kind}-server

[app:${kind}-server]
use = egg:swift#${kind}
${kind === 'object' ? 'keep_cache_size = 0\n' : ''}
[${kind}-replicator]
[${kind}-auditor]
${kind === 'object' ? '' : `[${kind}-updater]\n`}`;
}

function proxyConf(port: number, memcachePort: number, dir: string): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${dir}
log_level = WARNING
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
node_timeout = 30
conn_timeout = 2

[filter:s3api]
use = egg:swift#s3api
location = us-east-1
allow_multipart_uploads = true
max_upload_part_num = 10000
s3_acl = false
dns_compliant_bucket_names = true

[filter:tempauth]
use = egg:swift#tempauth
user_pier_tester = ${SECRET_KEY} .admin

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachePort}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo
min_segment_size = 1

[filter:dlo]
use = egg:swift#dlo
`;
}

async function waitFor(url: string, child: ChildProcess, what: string, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${output().slice(-3000)}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s: ${output().slice(-3000)}`);
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

/** Starts memcached and the four Swift servers; resolves when the S3 endpoint answers. */
export async function startSwiftS3(): Promise<SwiftS3> {
  requireSwift();
  const dir = mkdtempSync(join(tmpdir(), 'pier-swift-'));
  mkdirSync(join(dir, 'srv', 'd1'), { recursive: true });
  const [accountPort, containerPort, objectPort, proxyPort, memcachePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const children: ChildProcess[] = [];
  let output = '';
  const env = { ...withoutAwsVariables(), PYTHONDONTWRITEBYTECODE: '1' };
  const start = (command: string, args: string[]): ChildProcess => {
    const child = spawn('eatmydata', [command, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d) => (output += `[${command}] ${d}`));
    child.stderr?.on('data', (d) => (output += `[${command}] ${d}`));
    children.push(child);
    return child;
  };
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    writeFileSync(
      join(dir, 'swift.conf'),
      '[swift-hash]\nswift_hash_path_suffix = pier-test\nswift_hash_path_prefix = pier-test\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n\n[swift-constraints]\nmax_file_size = 21474836482\n',
    );
    const ports = { account: accountPort, container: containerPort, object: objectPort };
    for (const [kind, port] of Object.entries(ports)) {
      const builder = join(dir, `${kind}.builder`);
      for (const args of [
        [builder, 'create', '0', '1', '1'],
        [builder, 'add', `r1z1-127.0.0.1:${port}/d1`, '1'],
        [builder, 'rebalance'],
      ]) {
        const result = spawnSync('swift-ring-builder', args, { cwd: dir, env, encoding: 'utf8' });
        // rebalance exits 1 with a warning on a one-device ring; only 2 is an error.
        if (result.status === null || result.status > 1) throw new Error(`swift-ring-builder ${args.slice(1).join(' ')}: ${result.stdout}${result.stderr}`);
      }
      writeFileSync(join(dir, `${kind}-server.conf`), serverConf(kind as 'account' | 'container' | 'object', port, dir));
    }
    writeFileSync(join(dir, 'proxy-server.conf'), proxyConf(proxyPort, memcachePort, dir));
    start('memcached', ['-l', '127.0.0.1', '-p', String(memcachePort), '-U', '0', '-m', '64', ...(process.getuid?.() === 0 ? ['-u', 'root'] : [])]);
    const servers = (['account', 'container', 'object'] as const).map((kind) => ({
      kind,
      child: start(`swift-${kind}-server`, [join(dir, `${kind}-server.conf`)]),
    }));
    const proxy = start('swift-proxy-server', [join(dir, 'proxy-server.conf')]);
    for (const { kind, child } of servers) await waitFor(`http://127.0.0.1:${ports[kind]}/healthcheck`, child, `swift-${kind}-server`, () => output);
    const endpoint = `http://127.0.0.1:${proxyPort}`;
    await waitFor(`${endpoint}/healthcheck`, proxy, 'swift-proxy-server', () => output);
    const swift: SwiftS3 = {
      endpoint,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      region: 'us-east-1',
      async createBucket(name: string): Promise<string> {
        const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
        const client = new S3Client({
          endpoint,
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
        });
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
        } finally {
          client.destroy();
        }
        return name;
      },
      clientEnv: () => withoutAwsVariables(),
      logs: () => output,
      stop,
    };
    return swift;
  } catch (error) {
    await stop();
    throw error;
  }
}
