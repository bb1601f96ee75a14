/**
 * nginx (Debian's nginx-light) in front of one Pier with blob offload: Pier answers blob GETs with
 * `X-Accel-Redirect: /_pier_storage/<key>`, and nginx sends that file from its `internal` location (an alias
 * of Pier's storage root) with sendfile, answering Range itself. The configuration, temp folders, PID and
 * logs live in a scratch folder; nginx listens on a free loopback port, runs in the foreground (`daemon off`,
 * so the PID we hold is the master's) and is stopped by that PID.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './pier-process.ts';
import { runNginx, type RunningNginx } from './nginx.ts';

/** The nginx configuration Pier's documentation gives for the offload (docs/operations.md), filled in. */
export function accelServerBlock(listen: string, upstream: string, storageRoot: string): string {
  return `
  server {
    listen ${listen};
    client_max_body_size 0;
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }
    # Only reachable through Pier's X-Accel-Redirect answer, never by a client's own request.
    location /_pier_storage/ {
      internal;
      alias ${storageRoot.replace(/\/?$/, '/')};
      sendfile on;
      types { }
      default_type application/octet-stream;
      # nginx drops the upstream's own headers on an internal redirect: carry the registry's over.
      add_header Docker-Content-Digest $upstream_http_docker_content_digest always;
      add_header Docker-Distribution-API-Version $upstream_http_docker_distribution_api_version always;
      add_header ETag $upstream_http_etag always;
      add_header Cache-Control $upstream_http_cache_control always;
      add_header X-Request-ID $upstream_http_x_request_id always;
    }
  }`;
}

export async function startAccelNginx(upstream: string, storageRoot: string): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'pier-nginx-'));
  for (const sub of ['body', 'proxy']) mkdirSync(join(dir, sub));
  const port = await freePort();
  // As root, nginx's workers would switch to an unprivileged user that cannot read the test's 0700 folders.
  const asRoot = process.getuid?.() === 0 ? 'user root root;\n' : '';
  const conf = `${asRoot}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
${accelServerBlock(`127.0.0.1:${port}`, upstream, storageRoot)}
}
`;
  return runNginx(dir, port, conf);
}
