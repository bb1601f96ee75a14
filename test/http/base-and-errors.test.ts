/**
 * The API base, the error envelope, unknown endpoints, wrong methods, and hostile paths (traversal,
 * percent-encoded dots and slashes, malformed encoding): always a 4xx JSON error, never a 5xx, never a read
 * or write outside the data directory.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import { API_VERSION, digestOf, expectError, pushBlob, pushImage, rawRequest, type RawResponse, stopPier } from '../support/http-fixtures.ts';

let pier: RunningPier;
before(async () => {
  pier = await startPier();
});
after(async () => {
  await stopPier(pier);
});

describe('GET /v2/', () => {
  it('answers 200 with the API version header and a JSON body', async () => {
    const res = await fetch(`${pier.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(await res.json(), {});
  });

  it('HEAD /v2/ and /v2 (no trailing slash) answer 200 too', async () => {
    const head = await fetch(`${pier.url}/v2/`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('docker-distribution-api-version'), API_VERSION);
    const bare = await fetch(`${pier.url}/v2`);
    assert.equal(bare.status, 200);
    await bare.arrayBuffer();
  });

  it('echoes a well-formed X-Request-ID and makes one up otherwise', async () => {
    const res = await fetch(`${pier.url}/v2/`, { headers: { 'X-Request-ID': 'abc-123' } });
    await res.arrayBuffer();
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    const other = await fetch(`${pier.url}/v2/`, { headers: { 'X-Request-ID': 'bad id with spaces' } });
    await other.arrayBuffer();
    assert.ok(other.headers.get('x-request-id'));
    assert.notEqual(other.headers.get('x-request-id'), 'bad id with spaces');
  });
});

describe('unknown endpoints', () => {
  for (const path of ['/v2/foo/bar', '/v2/foo/manifests', '/v2/foo/blobs', '/v1/_ping', '/', '/v2/foo/tags/list/extra', '/v2//manifests/latest']) {
    it(`GET ${path} → 404 with a JSON error body`, async () => {
      const res = await fetch(`${pier.url}${path}`);
      await expectError(res, 404);
    });
  }
});

describe('wrong method → 405 UNSUPPORTED', () => {
  const digest = digestOf(Buffer.from('x'));
  const cases: Array<[string, string]> = [
    ['POST', '/v2/'],
    ['DELETE', '/v2/'],
    ['PUT', '/v2/_catalog'],
    ['POST', '/v2/foo/tags/list'],
    ['PATCH', '/v2/foo/manifests/latest'],
    ['POST', '/v2/foo/manifests/latest'],
    ['PUT', `/v2/foo/blobs/${digest}`],
    ['PATCH', `/v2/foo/blobs/${digest}`],
    ['GET', '/v2/foo/blobs/uploads/'],
    ['DELETE', `/v2/foo/referrers/${digest}`],
  ];
  for (const [method, path] of cases) {
    it(`${method} ${path}`, async () => {
      const res = await fetch(`${pier.url}${path}`, { method });
      await expectError(res, 405, 'UNSUPPORTED');
      assert.ok(res.headers.get('allow'), 'an Allow header lists the supported methods');
      assert.ok(!res.headers.get('allow')!.split(/,\s*/).includes(method));
    });
  }
});

describe('error envelope', () => {
  it('every error response carries code, message and detail', async () => {
    const errors = await expectError(await fetch(`${pier.url}/v2/Upper/tags/list`), 400, 'NAME_INVALID');
    assert.equal(errors.length, 1);
    assert.ok(errors[0]!.message.length > 0);
  });
});

describe('hostile paths', () => {
  const digest = digestOf(Buffer.from('secret content'));
  let outside: string;
  before(async () => {
    // A blob and a file a naive implementation could be tricked into serving or writing next to.
    await pushBlob(pier.url, 'victim', Buffer.from('secret content'));
    outside = mkdtempSync(join(tmpdir(), 'pier-outside-'));
    writeFileSync(join(outside, 'data'), 'OUTSIDE-SECRET');
  });
  after(() => rmSync(outside, { recursive: true, force: true }));

  const paths = (d: string) => [
    `/v2/../../etc/blobs/${d}`,
    `/v2/../victim/blobs/${d}`,
    `/v2/x/../victim/blobs/${d}`,
    `/v2/%2e%2e/%2e%2e/etc/blobs/${d}`,
    `/v2/%2E%2E%2F%2E%2E%2Fetc/blobs/${d}`,
    `/v2/victim%2f..%2f..%2f..%2fetc/blobs/${d}`,
    `/v2/victim/..%2f..%2fvictim/blobs/${d}`,
    `/v2/./victim/blobs/${d}`,
    `/v2/victim/./blobs/${d}`,
    `/v2/victim//x/blobs/${d}`,
    `/v2//victim/blobs/${d}`,
    `/v2/victim%00/blobs/${d}`,
    `/v2/victim%5c..%5c..%5cetc/blobs/${d}`,
    `/v2/%zz/blobs/${d}`,
    `/v2/victim/blobs/sha256:..%2f..%2f..%2f..%2fetc%2fpasswd`,
    `/v2/victim/blobs/..%2f..%2f${d}`,
    `/v2/victim/manifests/..%2f..%2f..%2fetc%2fpasswd`,
    `/v2/victim/manifests/..`,
    `/v2/victim/blobs/uploads/..%2f..%2f..`,
    `/v2/victim/blobs/uploads/%2e%2e`,
    `/v2/${'../'.repeat(20)}etc/tags/list`,
    `/v2/%2e%2e/tags/list`,
    `/v2/victim/referrers/..%2f..%2fx`,
  ];

  function assertRefused(res: RawResponse, path: string): void {
    assert.ok(res.status >= 400 && res.status < 500, `${path}: expected a 4xx, got ${res.status} ${res.body.toString().slice(0, 200)}`);
    const text = res.body.toString();
    assert.ok(!text.includes('secret content') && !text.includes('OUTSIDE-SECRET') && !text.includes('root:'), `${path} leaked content`);
    if (res.body.length > 0) {
      const json = JSON.parse(text) as { errors: Array<{ code: string }> };
      assert.ok(Array.isArray(json.errors) && json.errors.length > 0);
    }
  }

  for (const method of ['GET', 'HEAD', 'DELETE', 'PUT', 'PATCH', 'POST']) {
    it(`${method} on traversal paths is a 4xx, never a 5xx nor a leak`, async () => {
      for (const path of paths(digest)) {
        const res = await rawRequest(pier.host, method, path, method === 'GET' || method === 'HEAD' || method === 'DELETE' ? {} : { body: Buffer.from('{}') });
        assertRefused(res, `${method} ${path}`);
      }
    });
  }

  it('a name with a traversal segment is NAME_INVALID (400), not a 404 of some other path', async () => {
    for (const path of [`/v2/%2e%2e/%2e%2e/etc/blobs/${digest}`, `/v2/victim%2f..%2f..%2fetc/blobs/${digest}`, '/v2/a/%2e%2e/b/tags/list', `/v2/${'../'.repeat(3)}x/tags/list`]) {
      const res = await rawRequest(pier.host, 'GET', path);
      assert.equal(res.status, 400, `${path}: ${res.status} ${res.body.toString()}`);
      assert.equal((JSON.parse(res.body.toString()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'NAME_INVALID');
    }
  });

  it('uploads and manifest pushes to traversal names create nothing outside the data directory', async () => {
    const parent = dirname(pier.dataDir);
    const before = new Set(readdirSync(parent));
    const base = `escape-${process.pid}`;
    const names = [`..%2f..%2f${base}`, `%2e%2e/%2e%2e/${base}`, `a/..%2f..%2f..%2f..%2f..%2f${base}`, `../../../${base}`];
    for (const name of names) {
      assertRefused(await rawRequest(pier.host, 'POST', `/v2/${name}/blobs/uploads/`), `POST ${name}`);
      assertRefused(await rawRequest(pier.host, 'POST', `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: Buffer.from('secret content') }), `POST ${name}`);
      assertRefused(
        await rawRequest(pier.host, 'PUT', `/v2/${name}/manifests/latest`, { body: Buffer.from('{}'), headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } }),
        `PUT ${name}`,
      );
    }
    const created = readdirSync(parent).filter((e) => !before.has(e) && e.includes('escape'));
    assert.deepEqual(created, []);
    for (let dir = pier.dataDir, i = 0; i < 8; dir = dirname(dir), i++) assert.equal(existsSync(join(dir, base)), false, `${join(dir, base)} was created`);
  });

  it('the server still works after the hostile requests', async () => {
    const res = await fetch(`${pier.url}/v2/victim/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'secret content');
  });
});

describe('HEAD error responses', () => {
  it('HEAD of an unknown manifest is 404 without a body but with the API version header', async () => {
    await pushImage(pier.url, 'headcheck', 'v1');
    const res = await fetch(`${pier.url}/v2/headcheck/manifests/nope`, { method: 'HEAD' });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get('docker-distribution-api-version'), API_VERSION);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });
});
