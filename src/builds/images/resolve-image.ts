/**
 * `FROM` references and the images they name in Pier. A reference without a registry host
 * (`team/base:1`), or with one of the host names this registry answers to (`builds.registryhosts`, e.g.
 * `registry.example.com/team/base:1`), names a repository in Pier. Anything else is another registry,
 * which builds do not reach.
 */
import { isRepositoryName } from '../../registry/model/repository-name.ts';
import { isTag } from '../../registry/model/tag.ts';
import type { ImageStore } from './image-store.ts';
import { formatPlatform, isIndex, samePlatform, type ImageConfigJson, type ImageIndexJson, type ImageManifestJson, type Platform } from './image-model.ts';

export class ImageResolveError extends Error {}

export interface ImageRef {
  repository: string;
  /** A tag or a digest. */
  reference: string;
  /** The tag, when the reference named one (`repo:tag@digest` keeps both). */
  tag?: string;
}

export function parseImageRef(text: string, registryHosts: readonly string[]): ImageRef {
  let rest = text.trim();
  const slash = rest.indexOf('/');
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    const looksLikeHost = first.includes('.') || first.includes(':') || first === 'localhost';
    if (looksLikeHost) {
      if (!registryHosts.includes(first.toLowerCase())) {
        throw new ImageResolveError(`${text}: images from other registries (${first}) cannot be used by builds; push the image to this registry, or list ${first} in builds.registryhosts if it is this registry's own name`);
      }
      rest = rest.slice(slash + 1);
    }
  }
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.slice(colon).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!isRepositoryName(rest)) throw new ImageResolveError(`${text}: ${JSON.stringify(rest)} is not a valid repository name`);
  if (tag !== undefined && !isTag(tag)) throw new ImageResolveError(`${text}: invalid tag`);
  if (digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ImageResolveError(`${text}: invalid digest`);
  const reference = digest ?? tag ?? 'latest';
  return { repository: rest, reference, ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}) };
}

/** One platform's image: its manifest and config. */
export interface PlatformImage {
  platform: Platform;
  /** Digest of this platform's manifest. */
  digest: string;
  manifest: ImageManifestJson;
  config: ImageConfigJson;
}

export interface ResolvedImage {
  ref: ImageRef;
  /** Digest of what the reference names now (an index or a manifest). */
  digest: string;
  /** Every platform it offers. */
  platforms: PlatformImage[];
}

export async function resolveImage(store: ImageStore, ref: ImageRef): Promise<ResolvedImage> {
  const top = await store.getManifest(ref.repository, ref.reference);
  if (!top) throw new ImageResolveError(`${ref.repository}:${ref.reference}: no such image in this registry`);
  const platforms: PlatformImage[] = [];
  const load = async (digest: string, body: Buffer): Promise<PlatformImage> => {
    const manifest = JSON.parse(body.toString('utf8')) as ImageManifestJson;
    const config = JSON.parse((await store.readBlob(ref.repository, manifest.config.digest)).toString('utf8')) as ImageConfigJson;
    return { platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }, digest, manifest, config };
  };
  if (isIndex(top.mediaType)) {
    const index = JSON.parse(top.body.toString('utf8')) as ImageIndexJson;
    for (const child of index.manifests) {
      if (!child.platform || child.platform.os === 'unknown') continue; // attestations and the like
      const found = await store.getManifest(ref.repository, child.digest);
      if (!found) throw new ImageResolveError(`${ref.repository}: manifest ${child.digest} of the index is missing`);
      platforms.push(await load(found.digest, found.body));
    }
  } else {
    platforms.push(await load(top.digest, top.body));
  }
  return { ref, digest: top.digest, platforms };
}

export function pickPlatform(image: ResolvedImage, platform: Platform): PlatformImage {
  const found = image.platforms.find((p) => samePlatform(p.platform, platform));
  if (!found) {
    throw new ImageResolveError(`${image.ref.repository}:${image.ref.reference} has no ${formatPlatform(platform)} image (it has ${image.platforms.map((p) => formatPlatform(p.platform)).join(', ')})`);
  }
  return found;
}
