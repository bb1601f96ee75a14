/**
 * `repositories`, `repositories/{name}/tags`, `repositories/{name}/tags/{tag}`: browsing what a caller may
 * pull — search by name, label and annotation, sorted and paged — and deleting a tag (the `delete` action
 * on the repository, with deletes enabled and the registry writable; immutable tags stay).
 */
import { RegistryError } from '../../registry/errors.ts';
import { parseRepositoryName } from '../../registry/model/repository-name.ts';
import { parseTag } from '../../registry/model/tag.ts';
import { SORT_KEYS, needsMetadata, searchRepositories, type SortKey } from '../../browse/repository-search.ts';
import { factsFor, fillMissingFacts } from '../../browse/fill-facts.ts';
import { AdminError, browsing, intParam, iso, json, mayAct, noContent, requireAction, type AdminRequest, type AdminRoute } from './admin-context.ts';

export const MAX_PAGE = 500;
/** At most this many images' facts are read during one search (the background job does the rest). */
const SEARCH_FILL_LIMIT = 200;

async function listRepositories(r: AdminRequest): Promise<void> {
  const { browse } = browsing(r.deps);
  const q = (r.query.get('q') ?? '').slice(0, 500);
  const sort = (r.query.get('sort') ?? 'lastPush') as SortKey;
  if (!SORT_KEYS.includes(sort)) throw new AdminError(400, 'INVALID_REQUEST', `sort: one of ${SORT_KEYS.join(', ')}`);
  const order = r.query.get('order') ?? (sort === 'name' ? 'asc' : 'desc');
  if (order !== 'asc' && order !== 'desc') throw new AdminError(400, 'INVALID_REQUEST', 'order: asc or desc');
  const offset = intParam(r.query, 'offset', 0, 0, 1e9);
  const limit = intParam(r.query, 'limit', 50, 1, MAX_PAGE);
  const all = (await browse.repositories()).filter((repo) => mayAct(r, repo.name, 'pull'));
  // Labels come from image configs: learn those of images pushed since the last background round first.
  if (needsMetadata(q)) await fillMissingFacts(browse, browsing(r.deps).storage, SEARCH_FILL_LIMIT);
  const metadata = needsMetadata(q) ? await browse.searchableMetadata() : new Map();
  const found = searchRepositories(all, metadata, { q, sort, order, offset, limit });
  json(r.res, 200, {
    total: found.total,
    offset,
    limit,
    repositories: found.items.map((repo) => ({ name: repo.name, tagCount: repo.tagCount, sizeBytes: repo.sizeBytes, lastPushAt: iso(repo.lastPushAt) })),
  });
}

async function listTags(r: AdminRequest): Promise<void> {
  const { browse, storage } = browsing(r.deps);
  const name = parseRepositoryName(r.params.name!);
  requireAction(r, name, 'pull');
  const tags = await browse.tags(name);
  if (tags === undefined) throw new RegistryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
  const summary = await browse.repository(name);
  const facts = await factsFor(browse, storage, tags.map((t) => t.digest));
  await r.deps.activity?.flush();
  const activity = await browse.activity(name);
  json(r.res, 200, {
    name,
    tagCount: tags.length,
    sizeBytes: summary?.sizeBytes ?? 0,
    lastPushAt: iso(summary?.lastPushAt),
    canPush: mayAct(r, name, 'push') && !r.deps.readOnly,
    canDelete: mayAct(r, name, 'delete') && r.deps.deleteEnabled && !r.deps.readOnly,
    tags: tags.map((t) => ({
      tag: t.tag,
      digest: t.digest,
      mediaType: t.mediaType,
      manifestSize: t.manifestSize,
      imageSize: t.imageSize,
      platforms: facts.get(t.digest)?.platforms ?? [],
      created: facts.get(t.digest)?.created ?? null,
      updatedAt: iso(t.updatedAt),
      pushedAt: iso(t.pushedAt),
      // Known for manifests pushed or pulled through this registry since it recorded activity.
      pushedBy: activity.get(t.digest)?.pushedBy ?? null,
      lastPulledAt: iso(activity.get(t.digest)?.lastPulledAt),
    })),
  });
}

/** Deletes need the `delete` action, deletes enabled and a writable registry. */
export function checkDelete(r: AdminRequest, name: string): void {
  requireAction(r, name, 'delete');
  if (r.deps.readOnly) throw new RegistryError('UNSUPPORTED', 'registry is in read-only mode');
}

async function deleteTag(r: AdminRequest): Promise<void> {
  const { registry } = browsing(r.deps);
  const name = parseRepositoryName(r.params.name!);
  const tag = parseTag(r.params.tag!);
  checkDelete(r, name);
  await registry.manifests.delete(name, { kind: 'tag', tag });
  r.deps.logger.info({ repository: name, tag, by: r.caller.user ?? '(local)' }, 'tag deleted through the admin API');
  noContent(r.res);
}

const nameParam = 'a repository name (may contain /)';

export const routes: AdminRoute[] = [
  {
    id: 'admin-repositories',
    path: 'repositories',
    pattern: /^repositories$/,
    params: [],
    methods: {
      GET: {
        summary: 'Repositories the caller may pull, with size, tag count and last push; searched, sorted and paged.',
        audience: 'browse',
        handler: listRepositories,
        query: [
          { name: 'q', description: 'words that must all match: part of the name or of a label/annotation value; label:KEY[=VALUE]; annotation:KEY[=VALUE]', schema: { type: 'string' } },
          { name: 'sort', description: 'name, lastPush (default), size or tags', schema: { type: 'string', enum: [...SORT_KEYS] } },
          { name: 'order', description: 'asc or desc (default: asc for name, else desc)', schema: { type: 'string', enum: ['asc', 'desc'] } },
          { name: 'offset', description: 'skip this many (default 0)', schema: { type: 'integer', minimum: 0 } },
          { name: 'limit', description: `page size, 1 to ${MAX_PAGE} (default 50)`, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE } },
        ],
        success: { status: 200, description: '{total, offset, limit, repositories: [{name, tagCount, sizeBytes, lastPushAt}]}' },
      },
    },
  },
  {
    id: 'admin-repository-tags',
    path: 'repositories/{name}/tags',
    pattern: /^repositories\/(.+)\/tags$/,
    params: ['name'],
    methods: {
      GET: {
        summary: `A repository's figures and its tags (newest first) with digest, sizes, platforms and times; whether the caller may delete. {name}: ${nameParam}.`,
        audience: 'browse',
        handler: listTags,
        success: { status: 200, description: '{name, tagCount, sizeBytes, lastPushAt, canPush, canDelete, tags: [...]}' },
      },
    },
  },
  {
    id: 'admin-repository-tag',
    path: 'repositories/{name}/tags/{tag}',
    pattern: /^repositories\/(.+)\/tags\/([^/]+)$/,
    params: ['name', 'tag'],
    methods: {
      DELETE: {
        summary: 'Delete a tag (the manifest stays). Needs the delete action on the repository.',
        audience: 'user',
        handler: deleteTag,
        success: { status: 204, description: 'deleted' },
      },
    },
  },
];
