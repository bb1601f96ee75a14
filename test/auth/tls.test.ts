/**
 * TLS: the minimum version is enforced, client certificates are verified when `clientcas` is set (mTLS),
 * HTTP/2 is offered by ALPN with HTTP/1.1 as fallback (and only HTTP/1.1 with `http2.disabled`), pushes and
 * pulls work over h2 byte for byte, and a shutdown closes idle h2 sessions and keep-alive sockets at once.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { requireTools } from '../support/tools.ts';
import { makePki, send, startFromConfig, tempDir, type InProcessPier, type Pki } from './fixtures.ts';

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function tlsConfig(pki: Pki, extra: string[] = []): string {
  return [
    'version: 0.1',
    'storage:',
    '  filesystem:',
    '    rootdirectory: /unused',
    'http:',
    '  tls:',
    `    certificate: ${pki.serverCert}`,
    `    key: ${pki.serverKey}`,
    ...extra,
    '',
  ].join('\n');
}

/** The protocol a TLS handshake settles on, offering `protocols` by ALPN; rejects if the handshake fails. */
function handshake(port: number, options: { ca: Buffer; protocols?: string[]; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; cert?: Buffer; key?: Buffer }): Promise<{ alpn: string | false | null; version: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      ca: options.ca,
      ALPNProtocols: options.protocols ?? [],
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
    });
    socket.once('secureConnect', () => {
      // With TLS 1.3 a refused client certificate is reported after the handshake: give the alert a moment.
      setTimeout(() => {
        if (socket.destroyed) return;
        resolve({ alpn: socket.alpnProtocol, version: socket.getProtocol() });
        socket.end();
      }, 150);
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed during the handshake')));
  });
}

function h2Request(session: ClientHttp2Session, headers: Record<string, string | number>, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    const chunks: Buffer[] = [];
    let responseHeaders: Record<string, unknown> = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    stream.end(body);
  });
}

describe('TLS', { timeout: 60_000 }, () => {
  let dir: string;
  let pki: Pki;
  const servers: InProcessPier[] = [];
  const start = async (yaml: string): Promise<InProcessPier> => {
    const pier = await startFromConfig(yaml);
    servers.push(pier);
    return pier;
  };

  before(() => {
    requireTools('openssl');
    dir = tempDir('tls');
    pki = makePki(dir);
  });

  after(async () => {
    for (const s of servers) await s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('TLS 1.2 is the default minimum; minimumtls tls1.3 refuses a TLS 1.2 client', async () => {
    const ca = readFileSync(pki.caCert);
    const defaults = await start(tlsConfig(pki));
    assert.equal((await handshake(defaults.running.port, { ca, maxVersion: 'TLSv1.2' })).version, 'TLSv1.2');
    assert.equal((await handshake(defaults.running.port, { ca })).version, 'TLSv1.3');
    assert.equal((await send(`${defaults.url}/v2/`, { ca })).status, 200);
    await assert.rejects(send(`${defaults.url}/v2/`), /self-signed|unable to verify|certificate/i, 'a client without the CA refuses the server');

    const strict = await start(tlsConfig(pki, ['    minimumtls: tls1.3']));
    await assert.rejects(handshake(strict.running.port, { ca, maxVersion: 'TLSv1.2' }), /protocol|version|alert/i);
    assert.equal((await handshake(strict.running.port, { ca })).version, 'TLSv1.3');
  });

  it('with clientcas, only clients with a certificate from those CAs are served (mTLS)', async () => {
    const ca = readFileSync(pki.caCert);
    const mtls = await start(tlsConfig(pki, ['    clientcas:', `      - ${pki.clientCaCert}`]));
    const cert = readFileSync(pki.clientCert);
    const key = readFileSync(pki.clientKey);
    const served = await send(`${mtls.url}/v2/`, { ca, cert, key });
    assert.equal(served.status, 200);
    await assert.rejects(send(`${mtls.url}/v2/`, { ca }), /certificate required/, 'no client certificate');
    // A certificate from another CA (the server's own) is refused too.
    await assert.rejects(send(`${mtls.url}/v2/`, { ca, cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }), /hang up|unknown ca|alert|ECONNRESET/i, 'a certificate from an unknown CA');
  });

  it('offers HTTP/2 and HTTP/1.1 by ALPN; push and pull work over h2 byte for byte', async () => {
    const ca = readFileSync(pki.caCert);
    const pier = await start(tlsConfig(pki));
    assert.equal((await handshake(pier.running.port, { ca, protocols: ['h2', 'http/1.1'] })).alpn, 'h2');
    assert.equal((await handshake(pier.running.port, { ca, protocols: ['http/1.1'] })).alpn, 'http/1.1');
    const http1 = await send(`${pier.url}/v2/`, { ca });
    assert.equal(http1.status, 200, 'a client without ALPN gets HTTP/1.1');

    const session = http2Connect(pier.url, { ca });
    try {
      const blob = randomBytes(3 * 1024 * 1024 + 17);
      const digest = sha256(blob);
      const pushed = await h2Request(session, { ':method': 'POST', ':path': `/v2/h2/app/blobs/uploads/?digest=${digest}`, 'content-length': blob.length, 'content-type': 'application/octet-stream' }, blob);
      assert.equal(pushed.status, 201);
      assert.equal(pushed.headers['docker-content-digest'], digest);
      const pulled = await h2Request(session, { ':method': 'GET', ':path': `/v2/h2/app/blobs/${digest}` });
      assert.equal(pulled.status, 200);
      assert.equal(sha256(pulled.body), digest);
      const range = await h2Request(session, { ':method': 'GET', ':path': `/v2/h2/app/blobs/${digest}`, range: 'bytes=10-19' });
      assert.equal(range.status, 206);
      assert.deepEqual(range.body, blob.subarray(10, 20));
      const missing = await h2Request(session, { ':method': 'GET', ':path': `/v2/h2/app/blobs/sha256:${'0'.repeat(64)}` });
      assert.equal(missing.status, 404);
      assert.equal(JSON.parse(missing.body.toString()).errors[0].code, 'BLOB_UNKNOWN');
    } finally {
      session.close();
    }
    const metrics = await send(`${pier.url}/metrics`, { ca });
    assert.match(metrics.text(), /pier_http_requests_total\{route="upload-start",method="POST",status="201"\} 1/);
  });

  it('http2.disabled offers HTTP/1.1 only', async () => {
    const ca = readFileSync(pki.caCert);
    const pier = await start(tlsConfig(pki, ['  http2:', '    disabled: true']));
    const negotiated = await handshake(pier.running.port, { ca, protocols: ['h2', 'http/1.1'] });
    assert.notEqual(negotiated.alpn, 'h2');
    assert.equal((await send(`${pier.url}/v2/`, { ca })).status, 200);
  });

  it('a shutdown closes idle h2 sessions and idle keep-alive sockets without waiting for the drain deadline', async () => {
    const ca = readFileSync(pki.caCert);
    const pier = await startFromConfig(tlsConfig(pki));
    const session = http2Connect(pier.url, { ca });
    assert.equal((await h2Request(session, { ':method': 'GET', ':path': '/v2/' })).status, 200);
    const agent = new Agent({ keepAlive: true, ca });
    await new Promise<void>((resolve, reject) => {
      httpsRequest(`${pier.url}/v2/`, { agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    const started = Date.now();
    await pier.close(); // drain deadline 2 s
    assert.ok(Date.now() - started < 1500, `closed in ${Date.now() - started} ms`);
    session.destroy();
    agent.destroy();
  });
});
