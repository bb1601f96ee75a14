/**
 * `repositories/{name}/manifests/{reference}`: one manifest in detail — layers with sizes, the image config
 * (entrypoint, cmd, env, labels, ports, user, history), an index's platforms, referrers with their artifact
 * types — and deleting it (with every tag on it).
 */
import { RegistryError } from '../../registry/errors.ts';
import { parseRepositoryName } from '../../registry/model/repository-name.ts';
import { parseReference } from '../../registry/model/reference.ts';
import { readManifestContent } from '../../browse/image-content.ts';
import { browsing, iso, json, mayAct, noContent, requireAction, type AdminRequest, type AdminRoute } from './admin-context.ts';
import { checkDelete } from './repositories.ts';

/** The index keeps an image's config media type as its artifact type (for the referrers API); that is no artifact. */
const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
function artifactTypeOf(indexed: string | undefined, declared: string | undefined): string | null {
  if (declared) return declared;
  return indexed && !IMAGE_CONFIG_TYPES.has(indexed) ? indexed : null;
}

async function resolveDigest(r: AdminRequest, name: string): Promise<string> {
  const reference = parseReference(r.params.reference!);
  if (reference.kind === 'digest') return reference.digest.value;
  const record = await r.deps.index.resolveTag(name, reference.tag);
  if (!record) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name, reference: reference.tag });
  return record.digest;
}

async function showManifest(r: AdminRequest): Promise<void> {
  const { browse, storage } = browsing(r.deps);
  const name = parseRepositoryName(r.params.name!);
  requireAction(r, name, 'pull');
  const digest = await resolveDigest(r, name);
  const summary = await browse.manifest(name, digest);
  if (!summary) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name, reference: digest });
  const content = await readManifestContent(storage, digest);
  const referrers = await r.deps.index.listReferrers(name, digest);
  const layerSizes = await browse.blobSizes(name, content?.layers.map((l) => l.digest) ?? []);
  await r.deps.activity?.flush();
  const activity = (await browse.activity(name)).get(digest);
  json(r.res, 200, {
    name,
    digest,
    mediaType: summary.mediaType,
    size: summary.size,
    pushedAt: iso(summary.pushedAt),
    pushedBy: activity?.pushedBy ?? null,
    lastPulledAt: iso(activity?.lastPulledAt),
    tags: summary.tags,
    kind: content?.kind ?? 'unknown',
    artifactType: artifactTypeOf(summary.artifactType, content?.artifactType),
    subject: summary.subject ?? null,
    annotations: summary.annotations ?? content?.annotations ?? {},
    config: content?.config ?? null,
    layers: (content?.layers ?? []).map((l) => ({ ...l, stored: layerSizes.has(l.digest) })),
    totalLayerBytes: (content?.layers ?? []).reduce((sum, l) => sum + l.size, 0),
    manifests: content?.manifests ?? [],
    referrers: referrers.map((ref) => ({ digest: ref.digest, mediaType: ref.mediaType, size: ref.size, artifactType: ref.artifactType ?? null, annotations: ref.annotations ?? {} })),
    canDelete: mayAct(r, name, 'delete') && r.deps.deleteEnabled && !r.deps.readOnly,
  });
}

async function deleteManifest(r: AdminRequest): Promise<void> {
  const { registry } = browsing(r.deps);
  const name = parseRepositoryName(r.params.name!);
  checkDelete(r, name);
  const reference = parseReference(r.params.reference!);
  if (reference.kind !== 'digest') throw new RegistryError('UNSUPPORTED', 'delete a manifest by digest; to delete a tag use repositories/{name}/tags/{tag}');
  await registry.manifests.delete(name, reference);
  r.deps.logger.info({ repository: name, digest: reference.digest.value, by: r.caller.user ?? '(local)' }, 'manifest deleted through the admin API');
  noContent(r.res);
}

export const routes: AdminRoute[] = [
  {
    id: 'admin-repository-manifest',
    path: 'repositories/{name}/manifests/{reference}',
    pattern: /^repositories\/(.+)\/manifests\/([^/]+)$/,
    params: ['name', 'reference'],
    methods: {
      GET: {
        summary: 'A manifest (by digest or tag) in detail: layers, config, platforms of an index, referrers; whether the caller may delete it.',
        audience: 'browse',
        handler: showManifest,
        success: { status: 200, description: '{digest, mediaType, kind, tags, config, layers, manifests, referrers, canDelete, …}' },
      },
      DELETE: {
        summary: 'Delete a manifest by digest, with every tag on it. Needs the delete action on the repository.',
        audience: 'user',
        handler: deleteManifest,
        success: { status: 204, description: 'deleted' },
      },
    },
  },
];
