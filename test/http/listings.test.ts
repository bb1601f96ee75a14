/** `GET /v2/<name>/tags/list` and `GET /v2/_catalog`: contents, order, n/last pagination and the Link header. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPier, type RunningPier } from '../support/pier.ts';
import { OCI_MANIFEST, expectError, pushImage, putManifest, stopPier } from '../support/http-fixtures.ts';

let pier: RunningPier;
const REPO = 'list/app';
// Mixed case, digits, dots, dashes and underscores: the order must be lexical (byte order).
const TAGS = ['v1.0', 'v1.1', 'latest', 'Zeta', '0.9', '_private', 'a-b', 'a.b', 'a_b', 'v10', 'v2', 'stable', 'A'];
const SORTED = [...TAGS].sort();
const REPOS = ['list/app', 'list/b', 'alpha', 'zulu/x/y', 'list/a-b', 'list/a.b', 'list/a_b', 'm0'];

before(async () => {
  pier = await startPier();
  const image = await pushImage(pier.url, REPO, TAGS[0]);
  for (const tag of TAGS.slice(1)) {
    const res = await putManifest(pier.url, REPO, tag, image.manifest, OCI_MANIFEST);
    assert.equal(res.status, 201);
    await res.arrayBuffer();
  }
  for (const repo of REPOS.filter((r) => r !== REPO)) await pushImage(pier.url, repo, 'v1');
});
after(async () => {
  await stopPier(pier);
});

interface Page<T> {
  body: T;
  link: string | null;
}

async function getPage<T>(path: string): Promise<Page<T>> {
  const res = await fetch(`${pier.url}${path}`);
  const text = await res.text();
  assert.equal(res.status, 200, `${path}: ${res.status} ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { body: JSON.parse(text) as T, link: res.headers.get('link') };
}

/** The URL in `Link: <url>; rel="next"`, as a path with query. */
function nextOf(link: string): string {
  const match = /^<([^>]+)>;\s*rel="?next"?$/.exec(link.trim());
  assert.ok(match, `malformed Link header ${link}`);
  const url = new URL(match[1]!, pier.url);
  return `${url.pathname}${url.search}`;
}

async function followAll(first: string, key: 'tags' | 'repositories', n: number): Promise<{ items: string[]; pages: number }> {
  const items: string[] = [];
  let path: string | undefined = first;
  let pages = 0;
  while (path !== undefined) {
    const page: Page<Record<string, string[]>> = await getPage<Record<string, string[]>>(path);
    const got = page.body[key] ?? [];
    assert.ok(got.length <= n, `page of ${got.length} > n=${n}`);
    items.push(...got);
    pages++;
    assert.ok(pages < 100, 'pagination does not terminate');
    if (page.link) {
      assert.ok(got.length > 0, 'a Link header on an empty page');
      const next = nextOf(page.link);
      const query = new URL(next, pier.url).searchParams;
      assert.equal(query.get('last'), got[got.length - 1], 'Link carries last = the last item of this page');
      assert.equal(query.get('n'), String(n), 'Link keeps n');
      path = next;
    } else path = undefined;
  }
  return { items, pages };
}

describe('tags list', () => {
  it('lists every tag in lexical order, without a Link header', async () => {
    const page = await getPage<{ name: string; tags: string[] }>(`/v2/${REPO}/tags/list`);
    assert.deepEqual(page.body, { name: REPO, tags: SORTED });
    assert.equal(page.link, null);
  });

  for (const n of [1, 2, 3, 5, TAGS.length - 1, TAGS.length, TAGS.length + 5]) {
    it(`n=${n}: following Link to the end gives every tag once, in order`, async () => {
      const { items, pages } = await followAll(`/v2/${REPO}/tags/list?n=${n}`, 'tags', n);
      assert.deepEqual(items, SORTED);
      assert.equal(pages, Math.max(1, Math.ceil(TAGS.length / n)));
    });
  }

  it('n=2 returns exactly two tags and a Link header', async () => {
    const page = await getPage<{ name: string; tags: string[] }>(`/v2/${REPO}/tags/list?n=2`);
    assert.deepEqual(page.body.tags, SORTED.slice(0, 2));
    assert.equal(page.body.name, REPO);
    assert.ok(page.link);
    assert.match(page.link, /rel="next"/);
    assert.ok(new URL(nextOf(page.link), pier.url).pathname === `/v2/${REPO}/tags/list`);
  });

  it('last without n: the tags after last', async () => {
    const last = SORTED[4]!;
    const page = await getPage<{ tags: string[] }>(`/v2/${REPO}/tags/list?last=${encodeURIComponent(last)}`);
    assert.deepEqual(page.body.tags, SORTED.slice(5));
  });

  it('last and n together', async () => {
    const page = await getPage<{ tags: string[] }>(`/v2/${REPO}/tags/list?last=${encodeURIComponent(SORTED[1]!)}&n=3`);
    assert.deepEqual(page.body.tags, SORTED.slice(2, 5));
    assert.ok(page.link);
  });

  it('last beyond every tag: an empty list, no Link', async () => {
    const page = await getPage<{ tags: string[] }>(`/v2/${REPO}/tags/list?last=zzzz`);
    assert.deepEqual(page.body.tags, []);
    assert.equal(page.link, null);
  });

  it('n=0: an empty list, no Link', async () => {
    const page = await getPage<{ name: string; tags: string[] }>(`/v2/${REPO}/tags/list?n=0`);
    assert.equal(page.body.name, REPO);
    assert.deepEqual(page.body.tags, []);
    assert.equal(page.link, null);
  });

  for (const n of ['-1', 'abc', '1.5', '1e3', '0x10', '99999999999999999999']) {
    it(`n=${n} → 400 PAGINATION_NUMBER_INVALID`, async () => {
      await expectError(await fetch(`${pier.url}/v2/${REPO}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
    });
  }

  it('unknown repository → 404 NAME_UNKNOWN (also with n=0)', async () => {
    await expectError(await fetch(`${pier.url}/v2/list/nope/tags/list`), 404, 'NAME_UNKNOWN');
    await expectError(await fetch(`${pier.url}/v2/list/nope/tags/list?n=0`), 404, 'NAME_UNKNOWN');
  });

  it('invalid repository name → 400 NAME_INVALID', async () => {
    await expectError(await fetch(`${pier.url}/v2/List/App/tags/list`), 400, 'NAME_INVALID');
  });

  it('a deleted tag disappears from the list', async () => {
    const image = await pushImage(pier.url, 'list/del', 'keep');
    const again = await putManifest(pier.url, 'list/del', 'drop', image.manifest, OCI_MANIFEST);
    await again.arrayBuffer();
    assert.deepEqual((await getPage<{ tags: string[] }>('/v2/list/del/tags/list')).body.tags, ['drop', 'keep']);
    const del = await fetch(`${pier.url}/v2/list/del/manifests/drop`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.deepEqual((await getPage<{ tags: string[] }>('/v2/list/del/tags/list')).body.tags, ['keep']);
  });
});

describe('catalog', () => {
  const expected = () => [...new Set([...REPOS, 'list/del'])].sort();

  it('lists every repository in lexical order', async () => {
    const page = await getPage<{ repositories: string[] }>('/v2/_catalog');
    assert.deepEqual(page.body.repositories, expected());
    assert.equal(page.link, null);
  });

  for (const n of [1, 2, 3, 4, 100]) {
    it(`n=${n}: following Link to the end gives every repository once, in order`, async () => {
      const { items } = await followAll(`/v2/_catalog?n=${n}`, 'repositories', n);
      assert.deepEqual(items, expected());
    });
  }

  it('n=1 has a Link to the next page pointing at /v2/_catalog', async () => {
    const page = await getPage<{ repositories: string[] }>('/v2/_catalog?n=1');
    assert.equal(page.body.repositories.length, 1);
    assert.ok(page.link);
    assert.equal(new URL(nextOf(page.link), pier.url).pathname, '/v2/_catalog');
  });

  it('last: the repositories after it', async () => {
    const all = expected();
    const page = await getPage<{ repositories: string[] }>(`/v2/_catalog?last=${encodeURIComponent(all[2]!)}`);
    assert.deepEqual(page.body.repositories, all.slice(3));
  });

  it('n=0: an empty list', async () => {
    const page = await getPage<{ repositories: string[] }>('/v2/_catalog?n=0');
    assert.deepEqual(page.body.repositories, []);
    assert.equal(page.link, null);
  });

  for (const n of ['-5', 'ten', '2.0']) {
    it(`n=${n} → 400 PAGINATION_NUMBER_INVALID`, async () => {
      await expectError(await fetch(`${pier.url}/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
    });
  }
});

describe('empty registry', () => {
  it('the catalog of a fresh registry is an empty list', async () => {
    const fresh = await startPier();
    try {
      const res = await fetch(`${fresh.url}/v2/_catalog`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { repositories: [] });
    } finally {
      await stopPier(fresh);
    }
  });
});
