/**
 * `/v2/<name>/blobs/uploads/…`: sessions, monolithic and chunked pushes, streamed PATCH, completion with and
 * without a last chunk, digest checks, status, cancel, unknown sessions, cross-repository mounts, sha512,
 * empty and large blobs, and sessions that survive a restart of Pier.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import {
  API_VERSION,
  asBody,
  bytes,
  digestOf,
  expectError,
  locationOf,
  pushBlob,
  rawRequest,
  startUpload,
  withDigest,
  stopPier,
} from '../support/http-fixtures.ts';

let pier: RunningPier;
before(async () => {
  pier = await startPier();
});
after(async () => {
  await stopPier(pier);
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function getBlob(base: string, name: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${base}/v2/${name}/blobs/${digest}`);
  const body = await bytes(res);
  assert.equal(res.status, 200, `GET ${name}@${digest}: ${res.status} ${body.toString().slice(0, 200)}`);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  return body;
}

async function patch(url: string, chunk: Buffer, range?: string): Promise<Response> {
  return fetch(url, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', ...(range ? { 'Content-Range': range } : {}) },
    body: asBody(chunk),
  });
}

function streamOf(chunks: Buffer[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

describe('POST starts a session', () => {
  it('202 with Location, Docker-Upload-UUID, Range and Content-Length 0', async () => {
    const res = await fetch(`${pier.url}/v2/up/start/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
    assert.equal(res.headers.get('content-length'), '0');
    const location = new URL(res.headers.get('location')!, pier.url);
    const id = res.headers.get('docker-upload-uuid');
    assert.match(id ?? '', UUID);
    assert.equal(location.pathname, `/v2/up/start/blobs/uploads/${id}`);
    assert.match(res.headers.get('range') ?? '', /^0-\d+$/);
    await res.arrayBuffer();
  });

  it('POST on an invalid name → 400 NAME_INVALID', async () => {
    await expectError(await fetch(`${pier.url}/v2/Up/blobs/uploads/`, { method: 'POST' }), 400, 'NAME_INVALID');
  });
});

describe('monolithic upload (POST ?digest=)', () => {
  it('201 with Location of the blob and Docker-Content-Digest; the blob is readable', async () => {
    const data = randomBytes(4096);
    const digest = digestOf(data);
    const res = await fetch(`${pier.url}/v2/up/mono/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, `/v2/up/mono/blobs/${digest}`);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/mono', digest), data);
  });

  it('a wrong digest → 400 DIGEST_INVALID and no blob under either digest', async () => {
    const data = randomBytes(100);
    const wrong = digestOf(Buffer.from('something else'));
    await expectError(await fetch(`${pier.url}/v2/up/mono/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data }), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${pier.url}/v2/up/mono/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
    await expectError(await fetch(`${pier.url}/v2/up/mono/blobs/${digestOf(data)}`), 404, 'BLOB_UNKNOWN');
  });

  it('a malformed digest → 400 DIGEST_INVALID', async () => {
    await expectError(await fetch(`${pier.url}/v2/up/mono/blobs/uploads/?digest=sha256:1234`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${pier.url}/v2/up/mono/blobs/uploads/?digest=md5:${'a'.repeat(32)}`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
  });
});

describe('chunked upload (PATCH with Content-Range)', () => {
  it('in-order chunks → 202 with growing Range; out-of-order and overlapping chunks → 416 with the current Range; PUT completes', async () => {
    const data = randomBytes(40);
    const session = await startUpload(pier.url, 'up/chunked');
    const id = new URL(session).pathname.split('/').pop()!;

    let res = await patch(session, data.subarray(0, 10), '0-9');
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-9');
    assert.equal(res.headers.get('docker-upload-uuid'), id);
    let next = locationOf(pier.url, res);
    await res.arrayBuffer();

    res = await patch(next, data.subarray(10, 20), '10-19');
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-19');
    next = locationOf(pier.url, res);
    await res.arrayBuffer();

    // A gap: the chunk does not start where the session ends.
    res = await patch(next, data.subarray(30, 40), '30-39');
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('range'), '0-19');
    await res.arrayBuffer();

    // An overlap with what is already there.
    res = await patch(next, data.subarray(5, 15), '5-14');
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('range'), '0-19');
    await res.arrayBuffer();

    // A resend of the first chunk.
    res = await patch(next, data.subarray(0, 10), '0-9');
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('range'), '0-19');
    await res.arrayBuffer();

    // The session is intact after the refusals.
    res = await fetch(next);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('range'), '0-19');
    await res.arrayBuffer();

    res = await patch(next, data.subarray(20, 40), '20-39');
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-39');
    next = locationOf(pier.url, res);
    await res.arrayBuffer();

    const digest = digestOf(data);
    res = await fetch(withDigest(next, digest), { method: 'PUT' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, `/v2/up/chunked/blobs/${digest}`);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/chunked', digest), data);
  });

  it('a malformed Content-Range is refused with a 4xx and leaves the session unchanged', async () => {
    const session = await startUpload(pier.url, 'up/chunked');
    const res = await patch(session, Buffer.from('abc'), 'three bytes please');
    assert.ok(res.status === 400 || res.status === 416, `got ${res.status}`);
    await res.arrayBuffer();
    const status = await fetch(session);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    await status.arrayBuffer();
  });
});

describe('inconsistent, concurrent and interrupted chunks', () => {
  it('Content-Range disagreeing with Content-Length → 4xx and the session is unchanged', async () => {
    const session = new URL(await startUpload(pier.url, 'up/odd'));
    const res = await rawRequest(pier.host, 'PATCH', session.pathname, {
      headers: { 'Content-Range': '0-19', 'Content-Length': 10, 'Content-Type': 'application/octet-stream' },
      body: randomBytes(10),
    });
    assert.ok(res.status === 400 || res.status === 416, `got ${res.status}`);
    const status = await fetch(session);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-0');
    await status.arrayBuffer();
  });

  it('a streamed body longer than its Content-Range → 4xx, and the extra bytes are not kept', async () => {
    const session = await startUpload(pier.url, 'up/odd');
    const res = await fetch(session, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-9' },
      body: streamOf([randomBytes(10), randomBytes(10)]),
      duplex: 'half',
    } as RequestInit);
    const text = await res.text();
    assert.ok(res.status === 400 || res.status === 416, `expected a 4xx for 20 bytes sent as 0-9, got ${res.status} with Range ${res.headers.get('range')} ${text}`);
    const status = await fetch(session);
    assert.equal(status.status, 204);
    assert.notEqual(status.headers.get('range'), '0-19', 'bytes beyond the declared range were appended');
    await status.arrayBuffer();
  });

  it('two concurrent PATCHes for the same range: exactly one is accepted, the other gets 416', async () => {
    const session = await startUpload(pier.url, 'up/race');
    const a = randomBytes(1000);
    const b = randomBytes(1000);
    const [ra, rb] = await Promise.all([patch(session, a, '0-999'), patch(session, b, '0-999')]);
    await ra.arrayBuffer();
    await rb.arrayBuffer();
    assert.deepEqual([ra.status, rb.status].sort(), [202, 416]);
    const winner = ra.status === 202 ? a : b;
    const status = await fetch(session);
    assert.equal(status.headers.get('range'), '0-999');
    await status.arrayBuffer();
    const put = await fetch(withDigest(session, digestOf(winner)), { method: 'PUT' });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/race', digestOf(winner)), winner);
  });

  it('a PATCH arriving while another is still streaming waits for it: whole chunks, in arrival order', async () => {
    const session = await startUpload(pier.url, 'up/race');
    const a1 = Buffer.alloc(100_000, 0x61);
    const a2 = Buffer.alloc(100_000, 0x41);
    const b = Buffer.alloc(50_000, 0x62);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let step = 0;
    const slow = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (step === 0) controller.enqueue(a1);
        else if (step === 1) {
          await gate;
          controller.enqueue(a2);
        } else controller.close();
        step++;
      },
    });
    const first = fetch(session, { method: 'PATCH', body: slow, duplex: 'half' } as RequestInit);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const second = patch(session, b);
    await new Promise((resolve) => setTimeout(resolve, 400));
    release();
    const [ra, rb] = await Promise.all([first, second]);
    assert.equal(ra.status, 202);
    assert.equal(rb.status, 202);
    await ra.arrayBuffer();
    await rb.arrayBuffer();
    const all = Buffer.concat([a1, a2, b]);
    const put = await fetch(withDigest(session, digestOf(all)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlob(pier.url, 'up/race', digestOf(all))).equals(all));
  });

  it('a PATCH cut off mid-body: the session keeps a prefix of what arrived, and the upload resumes from the reported offset', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const session = new URL(await startUpload(pier.url, 'up/resume'));
    // Declare the whole blob but send only 2.5 MiB, then drop the connection.
    await new Promise<void>((resolve) => {
      const req = request({
        host: '127.0.0.1',
        port: Number(session.port),
        method: 'PATCH',
        path: session.pathname,
        headers: { 'Content-Length': data.length, 'Content-Type': 'application/octet-stream' },
        agent: false,
      });
      req.on('error', () => resolve());
      req.on('response', (res) => {
        res.resume();
        resolve();
      });
      req.write(data.subarray(0, 2.5 * 1024 * 1024), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => resolve());
    });
    // Wait until the server has finished with the broken request: the same Range twice in a row.
    let seen: string | null = null;
    let header: string | null = null;
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const status = await fetch(session);
      assert.equal(status.status, 204);
      await status.arrayBuffer();
      header = status.headers.get('range');
      if (header === seen) break;
      seen = header;
    }
    const range = /^0-(\d+)$/.exec(header ?? '');
    assert.ok(range, `Range ${header}`);
    const have = Number(range[1]) + (Number(range[1]) === 0 ? 0 : 1);
    assert.ok(have <= 2.5 * 1024 * 1024, `the session claims ${have} bytes, more than were sent`);
    // Resume from the reported offset and finish: the blob must be exactly the original data.
    const rest = await patch(session.toString(), data.subarray(have), `${have}-${data.length - 1}`);
    assert.equal(rest.status, 202, await rest.text());
    const put = await fetch(withDigest(locationOf(pier.url, rest), digestOf(data)), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlob(pier.url, 'up/resume', digestOf(data))).equals(data));
  });
});

describe('streamed upload (PATCH without Content-Range)', () => {
  it('chunked transfer-encoded PATCHes append in order', async () => {
    const parts = [randomBytes(1000), randomBytes(3000), randomBytes(7)];
    const more = [randomBytes(512)];
    let session = await startUpload(pier.url, 'up/stream');
    let res = await fetch(session, { method: 'PATCH', body: streamOf(parts), duplex: 'half' } as RequestInit);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), `0-${4007 - 1}`);
    session = locationOf(pier.url, res);
    await res.arrayBuffer();
    res = await fetch(session, { method: 'PATCH', body: streamOf(more), duplex: 'half' } as RequestInit);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), `0-${4007 + 512 - 1}`);
    session = locationOf(pier.url, res);
    await res.arrayBuffer();
    const all = Buffer.concat([...parts, ...more]);
    const digest = digestOf(all);
    res = await fetch(withDigest(session, digest), { method: 'PUT' });
    assert.equal(res.status, 201);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/stream', digest), all);
  });

  it('a PATCH with Content-Length but no Content-Range appends too', async () => {
    const a = randomBytes(10);
    const b = randomBytes(20);
    const session = await startUpload(pier.url, 'up/stream');
    let res = await patch(session, a);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('range'), '0-9');
    const next = locationOf(pier.url, res);
    await res.arrayBuffer();
    res = await patch(next, b);
    assert.equal(res.headers.get('range'), '0-29');
    await res.arrayBuffer();
    const digest = digestOf(Buffer.concat([a, b]));
    res = await fetch(withDigest(locationOf(pier.url, res), digest), { method: 'PUT' });
    assert.equal(res.status, 201);
    await res.arrayBuffer();
  });
});

describe('completing an upload (PUT ?digest=)', () => {
  it('PUT with the last chunk as body', async () => {
    const data = randomBytes(300);
    const session = await startUpload(pier.url, 'up/put');
    let res = await patch(session, data.subarray(0, 200), '0-199');
    assert.equal(res.status, 202);
    const next = locationOf(pier.url, res);
    await res.arrayBuffer();
    const digest = digestOf(data);
    res = await fetch(withDigest(next, digest), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: data.subarray(200) });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/put', digest), data);
  });

  it('PUT with the whole blob as body right after POST (two-step monolithic)', async () => {
    const data = randomBytes(123);
    const session = await startUpload(pier.url, 'up/put');
    const res = await fetch(withDigest(session, digestOf(data)), { method: 'PUT', body: data });
    assert.equal(res.status, 201);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/put', digestOf(data)), data);
  });

  it('PUT without a body after PATCHes', async () => {
    const data = randomBytes(64);
    const session = await startUpload(pier.url, 'up/put');
    let res = await patch(session, data);
    const next = locationOf(pier.url, res);
    await res.arrayBuffer();
    res = await fetch(withDigest(next, digestOf(data)), { method: 'PUT' });
    assert.equal(res.status, 201);
    await res.arrayBuffer();
  });

  it('a wrong digest → 400 DIGEST_INVALID; nothing is stored under it', async () => {
    const data = randomBytes(64);
    const session = await startUpload(pier.url, 'up/put');
    const wrong = digestOf(Buffer.from('other'));
    await expectError(await fetch(withDigest(session, wrong), { method: 'PUT', body: data }), 400, 'DIGEST_INVALID');
    await expectError(await fetch(`${pier.url}/v2/up/put/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
    await expectError(await fetch(`${pier.url}/v2/up/put/blobs/${digestOf(data)}`), 404, 'BLOB_UNKNOWN');
  });

  it('no digest parameter → 400 (DIGEST_INVALID)', async () => {
    const session = await startUpload(pier.url, 'up/put');
    await expectError(await fetch(session, { method: 'PUT', body: 'abc' }), 400, 'DIGEST_INVALID');
  });

  it('a malformed digest parameter → 400 DIGEST_INVALID', async () => {
    const session = await startUpload(pier.url, 'up/put');
    await expectError(await fetch(withDigest(session, 'sha256:nothex'), { method: 'PUT', body: 'abc' }), 400, 'DIGEST_INVALID');
  });

  it('a completed session is gone: PATCH, PUT and GET on it → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const data = randomBytes(10);
    const session = await startUpload(pier.url, 'up/put');
    const res = await fetch(withDigest(session, digestOf(data)), { method: 'PUT', body: data });
    assert.equal(res.status, 201);
    await res.arrayBuffer();
    await expectError(await fetch(session), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(session, data), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(withDigest(session, digestOf(data)), { method: 'PUT', body: data }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });
});

describe('upload status and cancel', () => {
  it('GET → 204 with Range 0-<last byte>, Location and Docker-Upload-UUID', async () => {
    const session = await startUpload(pier.url, 'up/status');
    const id = new URL(session).pathname.split('/').pop()!;
    const p = await patch(session, randomBytes(77), '0-76');
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const res = await fetch(session);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('range'), '0-76');
    assert.equal(res.headers.get('docker-upload-uuid'), id);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, new URL(session).pathname);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('DELETE cancels (204); then GET/PATCH/PUT/DELETE → 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const session = await startUpload(pier.url, 'up/status');
    const p = await patch(session, randomBytes(5), '0-4');
    await p.arrayBuffer();
    const del = await fetch(session, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await del.arrayBuffer();
    await expectError(await fetch(session), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(session, randomBytes(5)), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(withDigest(session, digestOf(Buffer.alloc(0))), { method: 'PUT' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(session, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  for (const id of [randomUUID(), 'not-a-uuid', 'AAAAAAAA-0000-0000-0000-000000000000', '1', 'x'.repeat(300)]) {
    it(`unknown upload id ${id.slice(0, 40)} → 404 BLOB_UPLOAD_UNKNOWN for every method`, async () => {
      const url = `${pier.url}/v2/up/status/blobs/uploads/${id}`;
      await expectError(await fetch(url), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await patch(url, Buffer.from('abc')), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await fetch(`${url}?digest=${digestOf(Buffer.from('abc'))}`, { method: 'PUT', body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      await expectError(await fetch(url, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    });
  }

  it('an upload id with dot segments (raw path) is 4xx, never a 5xx', async () => {
    for (const id of ['..', '%2e%2e', '..%2f..%2f_layers', '.']) {
      const res = await rawRequest(pier.host, 'GET', `/v2/up/status/blobs/uploads/${id}`);
      assert.ok(res.status >= 400 && res.status < 500, `${id}: ${res.status}`);
    }
  });

  it("a session belongs to its repository: another repository's URL → 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const session = await startUpload(pier.url, 'up/owner');
    const id = new URL(session).pathname.split('/').pop()!;
    await expectError(await fetch(`${pier.url}/v2/up/thief/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(`${pier.url}/v2/up/thief/blobs/uploads/${id}`, Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN');
    const still = await fetch(session);
    assert.equal(still.status, 204);
    await still.arrayBuffer();
  });
});

describe('cross-repository mount', () => {
  const data = randomBytes(256);
  let digest: string;
  before(async () => {
    digest = await pushBlob(pier.url, 'mount/source', data);
  });

  it('mount with from → 201, Location and Docker-Content-Digest; readable in the target', async () => {
    const res = await fetch(`${pier.url}/v2/mount/target1/blobs/uploads/?mount=${digest}&from=mount/source`, { method: 'POST' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(new URL(res.headers.get('location')!, pier.url).pathname, `/v2/mount/target1/blobs/${digest}`);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'mount/target1', digest), data);
  });

  it('mount without from of a blob that exists → 201', async () => {
    const res = await fetch(`${pier.url}/v2/mount/target2/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'mount/target2', digest), data);
  });

  it('mount of an unknown blob → 202 with a usable upload session', async () => {
    const fresh = randomBytes(33);
    const res = await fetch(`${pier.url}/v2/mount/target3/blobs/uploads/?mount=${digestOf(fresh)}&from=mount/source`, { method: 'POST' });
    assert.equal(res.status, 202);
    assert.match(res.headers.get('docker-upload-uuid') ?? '', UUID);
    const session = locationOf(pier.url, res);
    await res.arrayBuffer();
    await expectError(await fetch(`${pier.url}/v2/mount/target3/blobs/${digestOf(fresh)}`), 404, 'BLOB_UNKNOWN');
    const put = await fetch(withDigest(session, digestOf(fresh)), { method: 'PUT', body: fresh });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'mount/target3', digestOf(fresh)), fresh);
  });

  it('mount from a repository that does not hold the blob → 202 (no mount)', async () => {
    const res = await fetch(`${pier.url}/v2/mount/target4/blobs/uploads/?mount=${digest}&from=mount/elsewhere`, { method: 'POST' });
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    await expectError(await fetch(`${pier.url}/v2/mount/target4/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  /** A refused mount is either a client error with the given code or, as the spec recommends when a registry cannot mount, a 202 session. */
  async function refusedMount(res: Response, code: string): Promise<void> {
    if (res.status === 202) {
      assert.match(res.headers.get('docker-upload-uuid') ?? '', UUID);
      await res.arrayBuffer();
      return;
    }
    await expectError(res, 400, code);
  }

  it('mount of a malformed digest → 400 DIGEST_INVALID or a 202 session, never a mount', async () => {
    await refusedMount(await fetch(`${pier.url}/v2/mount/target5/blobs/uploads/?mount=sha256:1&from=mount/source`, { method: 'POST' }), 'DIGEST_INVALID');
  });

  it('mount from a malformed repository name → 400 NAME_INVALID or a 202 session, never a mount', async () => {
    await refusedMount(await fetch(`${pier.url}/v2/mount/target6/blobs/uploads/?mount=${digest}&from=${encodeURIComponent('../mount/source')}`, { method: 'POST' }), 'NAME_INVALID');
    await expectError(await fetch(`${pier.url}/v2/mount/target6/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });
});

describe('sha512 blobs', () => {
  it('monolithic push and GET by a sha512 digest', async () => {
    const data = randomBytes(2048);
    const digest = await pushBlob(pier.url, 'up/sha512', data, 'sha512');
    assert.match(digest, /^sha512:[0-9a-f]{128}$/);
    assert.deepEqual(await getBlob(pier.url, 'up/sha512', digest), data);
    const head = await fetch(`${pier.url}/v2/up/sha512/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '2048');
  });

  it('chunked push completed with a sha512 digest; a wrong sha512 → DIGEST_INVALID', async () => {
    const data = randomBytes(5000);
    const session = await startUpload(pier.url, 'up/sha512');
    let res = await patch(session, data.subarray(0, 2500), '0-2499');
    let next = locationOf(pier.url, res);
    await res.arrayBuffer();
    res = await patch(next, data.subarray(2500), '2500-4999');
    next = locationOf(pier.url, res);
    await res.arrayBuffer();
    const digest = digestOf(data, 'sha512');
    res = await fetch(withDigest(next, digest), { method: 'PUT' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    await res.arrayBuffer();
    assert.deepEqual(await getBlob(pier.url, 'up/sha512', digest), data);

    const other = await startUpload(pier.url, 'up/sha512');
    await expectError(await fetch(withDigest(other, digestOf(Buffer.from('x'), 'sha512')), { method: 'PUT', body: data }), 400, 'DIGEST_INVALID');
  });
});

describe('empty blob', () => {
  it('monolithic push of zero bytes', async () => {
    const digest = await pushBlob(pier.url, 'up/empty', Buffer.alloc(0));
    const res = await fetch(`${pier.url}/v2/up/empty/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal((await bytes(res)).length, 0);
  });

  it('POST then PUT without any data', async () => {
    const session = await startUpload(pier.url, 'up/empty2');
    const digest = digestOf(Buffer.alloc(0));
    const res = await fetch(withDigest(session, digest), { method: 'PUT' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    await res.arrayBuffer();
    const head = await fetch(`${pier.url}/v2/up/empty2/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '0');
  });

  it('sha512 of zero bytes', async () => {
    const digest = await pushBlob(pier.url, 'up/empty3', Buffer.alloc(0), 'sha512');
    assert.equal((await getBlob(pier.url, 'up/empty3', digest)).length, 0);
  });
});

describe('a 20 MiB blob in chunks', () => {
  it('round-trips byte-identical, whole and ranged', async () => {
    const size = 20 * 1024 * 1024;
    const chunk = 5 * 1024 * 1024 + 3; // not a power of two, so chunk edges are odd offsets
    const data = randomBytes(size);
    let session = await startUpload(pier.url, 'up/big');
    for (let start = 0; start < size; start += chunk) {
      const end = Math.min(size, start + chunk) - 1;
      const res = await patch(session, data.subarray(start, end + 1), `${start}-${end}`);
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('range'), `0-${end}`);
      session = locationOf(pier.url, res);
      await res.arrayBuffer();
    }
    const digest = digestOf(data);
    const put = await fetch(withDigest(session, digest), { method: 'PUT' });
    assert.equal(put.status, 201);
    await put.arrayBuffer();
    const got = await getBlob(pier.url, 'up/big', digest);
    assert.equal(got.length, size);
    assert.equal(createHash('sha256').update(got).digest('hex'), digest.slice(7));
    assert.ok(got.equals(data));
    const ranged = await fetch(`${pier.url}/v2/up/big/blobs/${digest}`, { headers: { Range: `bytes=${chunk - 10}-${chunk + 9}` } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(await bytes(ranged), data.subarray(chunk - 10, chunk + 10));
  });
});

describe('sessions survive a restart', () => {
  it('a session begun on one Pier is finished on another over the same data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pier-restart-'));
    try {
      const data = randomBytes(3000);
      const first = await startPier({ dataDir });
      let session: string;
      try {
        const start = await fetch(`${first.url}/v2/restart/repo/blobs/uploads/`, { method: 'POST' });
        assert.equal(start.status, 202);
        session = new URL(start.headers.get('location')!, first.url).pathname;
        await start.arrayBuffer();
        const res = await patch(`${first.url}${session}`, data.subarray(0, 1000), '0-999');
        assert.equal(res.status, 202);
        session = new URL(res.headers.get('location')!, first.url).pathname;
        await res.arrayBuffer();
      } finally {
        await stopPier(first);
      }

      const second = await startPier({ dataDir });
      try {
        const status = await fetch(`${second.url}${session}`);
        assert.equal(status.status, 204);
        assert.equal(status.headers.get('range'), '0-999');
        await status.arrayBuffer();
        const res = await patch(`${second.url}${session}`, data.subarray(1000, 2000), '1000-1999');
        assert.equal(res.status, 202);
        assert.equal(res.headers.get('range'), '0-1999');
        const next = locationOf(second.url, res);
        await res.arrayBuffer();
        const digest = digestOf(data);
        const put = await fetch(withDigest(next, digest), { method: 'PUT', body: data.subarray(2000) });
        assert.equal(put.status, 201);
        await put.arrayBuffer();
        assert.deepEqual(await getBlob(second.url, 'restart/repo', digest), data);
      } finally {
        await stopPier(second);
      }

      // And the finished blob is still there after another restart.
      const third = await startPier({ dataDir });
      try {
        assert.deepEqual(await getBlob(third.url, 'restart/repo', digestOf(data)), data);
      } finally {
        await stopPier(third);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('two Piers on one data directory: overlapping chunks for the same range are not both appended', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pier-shared-race-'));
    const a = await startPier({ dataDir });
    const b = await startPier({ dataDir });
    try {
      const session = new URL(await startUpload(a.url, 'shared/race')).pathname;
      const first = Buffer.alloc(1000, 0x61);
      const second = Buffer.alloc(1000, 0x62);
      // Pier A receives the first half of its chunk, Pier B then gets a whole chunk for the same range,
      // then A's chunk completes: both claim bytes 0-999, so at most one may be accepted.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let step = 0;
      const slow = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (step === 0) controller.enqueue(first.subarray(0, 500));
          else if (step === 1) {
            await gate;
            controller.enqueue(first.subarray(500));
          } else controller.close();
          step++;
        },
      });
      const viaA = fetch(`${a.url}${session}`, { method: 'PATCH', headers: { 'Content-Range': '0-999' }, body: slow, duplex: 'half' } as RequestInit);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const rb = await patch(`${b.url}${session}`, second, '0-999');
      await rb.arrayBuffer();
      release();
      const ra = await viaA;
      await ra.arrayBuffer();
      assert.deepEqual([ra.status, rb.status].sort(), [202, 416], `A answered ${ra.status}, B answered ${rb.status}`);
      const status = await fetch(`${a.url}${session}`);
      assert.equal(status.headers.get('range'), '0-999', 'the session holds exactly one 1000-byte chunk');
      await status.arrayBuffer();
    } finally {
      await stopPier(a);
      await stopPier(b);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('two Piers open on the same data directory at once share sessions', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pier-shared-'));
    const a = await startPier({ dataDir });
    const b = await startPier({ dataDir });
    try {
      const data = randomBytes(500);
      const session = new URL(await startUpload(a.url, 'shared/repo')).pathname;
      const p = await patch(`${b.url}${session}`, data.subarray(0, 250), '0-249');
      assert.equal(p.status, 202);
      await p.arrayBuffer();
      const p2 = await patch(`${a.url}${session}`, data.subarray(250), '250-499');
      assert.equal(p2.status, 202);
      await p2.arrayBuffer();
      const put = await fetch(withDigest(`${b.url}${session}`, digestOf(data)), { method: 'PUT' });
      assert.equal(put.status, 201);
      await put.arrayBuffer();
      assert.deepEqual(await getBlob(a.url, 'shared/repo', digestOf(data)), data);
    } finally {
      await stopPier(a);
      await stopPier(b);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
