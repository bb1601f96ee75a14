/**
 * Blob offload to nginx (http.accelredirect): Pier answers a blob GET with X-Accel-Redirect only when the
 * request is authorised and the blob's bytes are verified (at their content address); nginx then sends the
 * file, ranges included. Pier runs as `pier serve` with htpasswd authentication behind Debian's nginx.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPierProcess, type PierProcess } from '../support/pier-process.ts';
import { startAccelNginx } from '../support/nginx-accel.ts';
import type { RunningNginx } from '../support/nginx.ts';
import { hashPassword } from '../../src/auth/htpasswd.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const AUTH = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;

describe('X-Accel-Redirect blob offload behind nginx', () => {
  let dir: string;
  let pier: PierProcess;
  let nginx: RunningNginx;
  const blob = randomBytes(3 * 1024 * 1024 + 17);
  const digest = sha256(blob);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pier-accel-'));
    const data = join(dir, 'data');
    writeFileSync(join(dir, 'htpasswd'), `alice:${await hashPassword('wonderland', 4)}\n`, { mode: 0o600 });
    writeFileSync(
      join(dir, 'config.yml'),
      ['version: 0.1', 'storage:', '  filesystem:', `    rootdirectory: ${data}`, 'auth:', '  htpasswd:', '    realm: test', `    path: ${join(dir, 'htpasswd')}`, 'http:', '  accelredirect:', '    enabled: true', ''].join('\n'),
    );
    pier = await startPierProcess(data, ['--config', join(dir, 'config.yml'), '--workers', '1']);
    nginx = await startAccelNginx(new URL(pier.url).host, data);
    const put = await fetch(`${pier.url}/v2/accel/app/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { Authorization: AUTH }, body: new Uint8Array(blob) });
    assert.equal(put.status, 201);
  });

  after(async () => {
    await nginx?.stop();
    await pier?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers an authorised GET of a verified blob with the file for nginx, and nothing else', async () => {
    const res = await fetch(`${pier.url}/v2/accel/app/blobs/${digest}`, { headers: { Authorization: AUTH } });
    assert.equal(res.status, 200);
    const [, hex] = digest.split(':');
    assert.equal(res.headers.get('x-accel-redirect'), `/_pier_storage/docker/registry/v2/blobs/sha256/${hex!.slice(0, 2)}/${hex}/data`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal((await res.arrayBuffer()).byteLength, 0);

    const anonymous = await fetch(`${pier.url}/v2/accel/app/blobs/${digest}`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('x-accel-redirect'), null);
    await anonymous.arrayBuffer();

    const wrongRepo = await fetch(`${pier.url}/v2/accel/other/blobs/${digest}`, { headers: { Authorization: AUTH } });
    assert.equal(wrongRepo.status, 404);
    assert.equal(wrongRepo.headers.get('x-accel-redirect'), null);
    await wrongRepo.arrayBuffer();

    const head = await fetch(`${pier.url}/v2/accel/app/blobs/${digest}`, { method: 'HEAD', headers: { Authorization: AUTH } });
    assert.equal(head.headers.get('x-accel-redirect'), null);
    assert.equal(head.headers.get('content-length'), String(blob.length));
  });

  it('never offloads bytes that are still an upload (not verified)', async () => {
    const pending = randomBytes(64 * 1024);
    const start = await fetch(`${pier.url}/v2/accel/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: AUTH } });
    assert.equal(start.status, 202);
    const patch = await fetch(new URL(start.headers.get('location')!, pier.url), { method: 'PATCH', headers: { Authorization: AUTH, 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(pending) });
    assert.equal(patch.status, 202);
    const res = await fetch(`${pier.url}/v2/accel/app/blobs/${sha256(pending)}`, { headers: { Authorization: AUTH } });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('x-accel-redirect'), null);
    await res.arrayBuffer();
  });

  it('through nginx: the whole blob and a range arrive with the registry headers; the internal location stays closed', async () => {
    const whole = await fetch(`${nginx.url}/v2/accel/app/blobs/${digest}`, { headers: { Authorization: AUTH } });
    assert.equal(whole.status, 200, nginx.errorLog());
    assert.equal(whole.headers.get('docker-content-digest'), digest);
    assert.equal(whole.headers.get('x-accel-redirect'), null);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), digest);

    const ranged = await fetch(`${nginx.url}/v2/accel/app/blobs/${digest}`, { headers: { Authorization: AUTH, Range: 'bytes=1000-1999999' } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get('content-range'), `bytes 1000-1999999/${blob.length}`);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), blob.subarray(1000, 2_000_000));

    const anonymous = await fetch(`${nginx.url}/v2/accel/app/blobs/${digest}`);
    assert.equal(anonymous.status, 401);
    assert.notEqual(sha256(Buffer.from(await anonymous.arrayBuffer())), digest);

    const [, hex] = digest.split(':');
    const direct = await fetch(`${nginx.url}/_pier_storage/docker/registry/v2/blobs/sha256/${hex!.slice(0, 2)}/${hex}/data`);
    assert.equal(direct.status, 404, 'the internal location is not served to clients');
    await direct.arrayBuffer();
  });
});
