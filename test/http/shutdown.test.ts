/**
 * Closing a server while a request is in flight: the request finishes normally, new connections are refused,
 * and close() resolves as soon as the in-flight work is done — a keep-alive connection whose response
 * finishes during the drain must not hold the shutdown open until the client happens to drop it.
 */
import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import { startUpload, stopPier } from '../support/http-fixtures.ts';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref())]);
}

describe('close() with a request in flight', () => {
  it('lets the in-flight upload finish, then resolves promptly even though the client keeps its connection alive', async () => {
    const pier: RunningPier = await startPier();
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    cleanups.push(() => stopPier(pier), () => agent.destroy()); // run in reverse: the agent first
    const session = new URL(await startUpload(pier.url, 'drain/repo'));

    // A PATCH whose body is still being sent when close() begins.
    let response!: Promise<IncomingMessage>;
    const req = request({ host: '127.0.0.1', port: Number(session.port), method: 'PATCH', path: session.pathname, agent, headers: { 'Transfer-Encoding': 'chunked' } });
    response = new Promise((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.write(Buffer.alloc(10, 1));
    await new Promise((resolve) => setTimeout(resolve, 400));

    const closing = pier.close();
    await new Promise((resolve) => setTimeout(resolve, 300));

    // New connections are refused while draining.
    await assert.rejects(fetch(`${pier.url}/v2/`));

    req.end(Buffer.alloc(10, 2));
    const res = await response;
    res.resume();
    await new Promise((resolve) => res.on('end', resolve));
    assert.equal(res.statusCode, 202, 'the in-flight request completes');
    assert.equal(res.headers.range, '0-19');

    const outcome = await within(closing, 3000);
    assert.notEqual(outcome, 'timeout', 'close() still waiting 3 s after the last in-flight response finished (the keep-alive connection was not closed)');
  });

  it('an idle keep-alive connection does not delay close()', async () => {
    const pier = await startPier();
    const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
    cleanups.push(() => agent.destroy());
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(pier.url);
      request({ host: url.hostname, port: Number(url.port), path: '/v2/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(status, 200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const outcome = await within(pier.close(), 3000);
    assert.notEqual(outcome, 'timeout');
  });
});
