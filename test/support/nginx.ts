/**
 * nginx (Debian's nginx-light) as a round-robin load balancer in front of Pier replicas, for one test file:
 * configuration, temp folders, PID and logs in a scratch folder, listening on a free loopback port, started in
 * the foreground (`daemon off`, so the PID we hold is the master's) and stopped by that PID.
 *
 * Every response carries `X-Pier-Upstream` (the replica that answered) so a test can see where each request
 * of an upload landed. Request and response bodies stream through (no buffering, no size limit), as a
 * registry needs; a replica that refuses connections is skipped for the request and for `fail_timeout`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pier-process.ts';
import { findOnPath } from './tools.ts';

export interface RunningNginx {
  url: string;
  host: string;
  pid: number;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Debian installs nginx in /usr/sbin, which a non-root PATH may lack. */
const NGINX = findOnPath('nginx', `${process.env.PATH ?? ''}:/usr/sbin:/sbin`);

/** `upstreams`: host:port of each replica. */
export async function startNginx(upstreams: string[]): Promise<RunningNginx> {
  if (!NGINX) throw new Error('nginx missing: apt-get install nginx-light');
  const dir = mkdtempSync(join(tmpdir(), 'pier-nginx-'));
  chmodSync(dir, 0o755);
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(dir, sub));
    chmodSync(join(dir, sub), 0o777); // workers run as an unprivileged user when the test runs as root
  }
  const port = await freePort();
  const conf = `
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream pier {
${upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=30s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://pier;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      add_header X-Pier-Upstream $upstream_addr always;
    }
  }
}
`;
  return runNginx(dir, port, conf);
}

/**
 * Starts nginx on `conf` (listening on 127.0.0.1:`port`, everything else in `dir`), waits until it answers,
 * and returns how to reach and stop it; `dir` is removed when it stops or fails to start.
 */
export async function runNginx(dir: string, port: number, conf: string): Promise<RunningNginx> {
  if (!NGINX) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error('nginx missing: apt-get install nginx-light');
  }
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx exited (${child.exitCode}): ${output} ${errorLog()}`);
    }
    try {
      await fetch(`${url}/v2/`);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`nginx did not listen within 15 s: ${output} ${errorLog()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    host: `127.0.0.1:${port}`,
    pid: child.pid!,
    errorLog,
    async stop() {
      if (child.exitCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
