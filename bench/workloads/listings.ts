/**
 * Listings: a repository with many tags (one manifest PUT under each tag, concurrently), listed with n=100
 * following Link headers and in one request; a catalog of many repositories (those earlier workloads
 * made, topped up with repositories of one image each: mount a config blob, PUT a manifest without layers),
 * listed with n=100 following Link headers. The reference registry 2.8 ignores
 * n on tags/list, so its "paged" listing is one response.
 */
import { nextLink, request } from '../http-client.ts';
import { blobOf, buildImage, randomBuffer, type Image, type RegistryClient } from '../registry-client.ts';
import { inParallel, seconds, type RunOutput, type Workload } from '../workload.ts';

export const TAGS_REPO = 'bench/tags';
const CATALOG_PREFIX = 'bench/catalog/r';

export const tagName = (i: number): string => `t${String(i).padStart(7, '0')}`;

/** PUTs the image's manifest under `count` tags, `concurrency` at once; returns tags per second. */
export async function populateTags(client: RegistryClient, repo: string, image: Image, count: number, concurrency: number): Promise<number> {
  await client.pushImage(repo, tagName(0), image);
  const started = performance.now();
  await inParallel(
    Array.from({ length: count - 1 }, (_, i) => i + 1),
    concurrency,
    (i) => client.putManifest(repo, tagName(i), image.manifest),
  );
  return (count - 1) / seconds(started);
}

/** Follows `Link: rel="next"` from `path` to the end; returns the items and the number of requests. */
export async function listAll(base: string, path: string, key: 'tags' | 'repositories', agent: RegistryClient['agent']): Promise<{ items: string[]; requests: number }> {
  const items: string[] = [];
  let next: string | undefined = path;
  let requests = 0;
  while (next !== undefined) {
    const reply = await request(base, next, { agent, expect: 200 });
    requests++;
    const page = JSON.parse(reply.body.toString('utf8')) as Record<string, string[] | null>;
    items.push(...(page[key] ?? []));
    next = nextLink(reply);
    if (requests > 1_000_000) throw new Error(`${path}: more than a million pages`);
  }
  return { items, requests };
}

function checkTags(what: string, items: string[], count: number): void {
  const unique = new Set(items);
  if (items.length !== count || unique.size !== count || !unique.has(tagName(0)) || !unique.has(tagName(count - 1))) {
    throw new Error(`${what}: ${items.length} tags (${unique.size} distinct), expected ${tagName(0)}…${tagName(count - 1)} (${count})`);
  }
}

export const listingsWorkload: Workload = {
  id: 'listings',
  async setup(ctx, target) {
    const { tagCount, catalogRepositories, catalogMinPopulate, populateConcurrency } = ctx.profile;
    const image = buildImage([blobOf(randomBuffer(4096))], 'listings');
    const tagRate = await populateTags(target.client, TAGS_REPO, image, tagCount, populateConcurrency);
    ctx.log(`  ${target.kind}: ${tagCount} tags at ${tagRate.toFixed(0)} tags/s`);

    // The catalog already holds what earlier workloads pushed (a repository per small image); add repositories
    // up to catalogRepositories, at least catalogMinPopulate of them for a steady rate. Each holds one small
    // image (the config is its only blob), mounted from the tag repository.
    const existing = (await listAll(target.server.url, '/v2/_catalog?n=1000', 'repositories', target.agent)).items.length;
    const count = Math.max(catalogMinPopulate, catalogRepositories - existing);
    target.state.set('catalogPopulated', count);
    const small = buildImage([], 'catalog');
    await target.client.pushBlob(TAGS_REPO, small.config);
    const started = performance.now();
    await inParallel(
      Array.from({ length: count }, (_, i) => `${CATALOG_PREFIX}${String(i).padStart(6, '0')}`),
      populateConcurrency,
      async (repo) => {
        if (!(await target.client.mountBlob(repo, TAGS_REPO, small.config.digest))) {
          throw new Error(`POST /v2/${repo}/blobs/uploads/?mount=${small.config.digest}&from=${TAGS_REPO}: not mounted (202)`);
        }
        await target.client.putManifest(repo, 'latest', small.manifest);
      },
    );
    const repoRate = count / seconds(started);
    ctx.log(`  ${target.kind}: ${count} repositories (${existing} there already) at ${repoRate.toFixed(0)} repos/s`);
    return { figures: { 'listings.tagPutRate': tagRate, 'listings.repoPushRate': repoRate }, info: { repositoriesBefore: existing, repositoriesPushed: count } };
  },
  async run(ctx, target) {
    const { tagCount, catalogRepositories, pageSize } = ctx.profile;
    const base = target.server.url;
    const out: RunOutput = { figures: {}, info: {} };

    let started = performance.now();
    const paged = await listAll(base, `/v2/${TAGS_REPO}/tags/list?n=${pageSize}`, 'tags', target.agent);
    out.figures['listings.tagsPaged'] = performance.now() - started;
    checkTags(`GET /v2/${TAGS_REPO}/tags/list?n=${pageSize} following Link`, paged.items, tagCount);

    started = performance.now();
    const reply = await request(base, `/v2/${TAGS_REPO}/tags/list`, { agent: target.agent, expect: 200 });
    const one = (JSON.parse(reply.body.toString('utf8')) as { tags: string[] }).tags;
    out.figures['listings.tagsOne'] = performance.now() - started;
    checkTags(`GET /v2/${TAGS_REPO}/tags/list`, one, tagCount);

    started = performance.now();
    const catalog = await listAll(base, `/v2/_catalog?n=${pageSize}`, 'repositories', target.agent);
    out.figures['listings.catalogPaged'] = performance.now() - started;
    const pushed = target.state.get('catalogPopulated') as number;
    const ours = catalog.items.filter((r) => r.startsWith(CATALOG_PREFIX));
    if (ours.length !== pushed || catalog.items.length < catalogRepositories || new Set(catalog.items).size !== catalog.items.length) {
      throw new Error(
        `GET /v2/_catalog?n=${pageSize} following Link: ${ours.length} of the ${pushed} ${CATALOG_PREFIX}* repositories pushed, ` +
          `${catalog.items.length} in all (${new Set(catalog.items).size} distinct), expected at least ${catalogRepositories}`,
      );
    }
    out.info = { tagPages: paged.requests, catalogPages: catalog.requests, catalogSize: catalog.items.length };
    return out;
  },
};
