/**
 * Requests Node's HTTP parser refuses before any handler runs get a clean answer with the spec's JSON error
 * body, and the connection is closed without a reset: headers over the limit (a 100 KB bearer token) → 431,
 * a request line over it → 414, malformed syntax → 400. A raw socket client sends each and reads the answer.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startPier, type RunningPier } from '../support/pier.ts';

interface RawAnswer {
  status: number;
  headers: string;
  body: string;
  /** The connection ended with FIN (not reset). */
  closedCleanly: boolean;
}

/** Writes `request`, then reads until the server closes the connection. */
function rawRequest(url: string, request: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let reset = false;
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') reset = true;
      else reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, headers: text.slice(0, split), body: text.slice(split + 4), closedCleanly: !reset });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
    socket.write(request, 'latin1');
  });
}

function assertJsonError(answer: RawAnswer, status: number): void {
  assert.equal(answer.status, status, answer.headers);
  assert.match(answer.headers, /content-type: application\/json/i);
  const body = JSON.parse(answer.body) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors.length, 1);
  assert.ok(body.errors[0]!.message.length > 0);
  assert.ok(answer.closedCleanly, 'answered, then closed without a reset');
}

describe('requests the HTTP parser refuses', () => {
  let pier: RunningPier;
  before(async () => {
    pier = await startPier();
  });
  after(() => pier.close());

  it('a 100 KB Authorization header gets 431 with a JSON body', async () => {
    const token = 'a'.repeat(100 * 1024);
    const answer = await rawRequest(pier.url, `GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    assertJsonError(answer, 431);
  });

  it('a request line longer than the limit gets 414 with a JSON body', async () => {
    const answer = await rawRequest(pier.url, `GET /v2/${'a/'.repeat(40 * 1024)}tags/list HTTP/1.1\r\nHost: x\r\n\r\n`);
    assertJsonError(answer, 414);
  });

  it('malformed request syntax gets 400 with a JSON body', async () => {
    const answer = await rawRequest(pier.url, 'GET /v2/ HTTP/1.1\r\nBad Header Line\r\n\r\n');
    assertJsonError(answer, 400);
  });

  it('the server goes on serving', async () => {
    assert.equal((await fetch(`${pier.url}/v2/`)).status, 200);
  });
});
