/**
 * Repository links. Every tag pushed is looked at once (tag-observer.ts calls `tagPushed`):
 *  1. its platform images are recorded with their layer chains, so later pushes can find them as bases;
 *  2. an image pushed from elsewhere (not by a build) gets links to the images its layers start with;
 *  3. if the tag is a base of linked images and its digest changed, builds whose rule says so are queued
 *     — the whole chain of dependents at once, in dependency order, each (definition, tag) once, as one
 *     cascade the queue runs in order — and images pushed from elsewhere on it get a `base.updated` event.
 * A push made by a build of a cascade does not start another cascade: its dependents are already queued.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../observability/logger.ts';
import type { ImageStore } from '../images/image-store.ts';
import { formatPlatform } from '../images/image-model.ts';
import { resolveImage } from '../images/resolve-image.ts';
import type { BuildStore, ImageLink } from '../queue/build-store.ts';
import type { BuildEvents } from '../build-events.ts';
import type { BaseRecord } from '../builder.ts';
import { matchRule } from '../model/build-rules.ts';
import { chainIds } from './layer-chain.ts';

/** Set while a build pushes, so the tag observer knows who pushed. */
export const buildContext = new AsyncLocalStorage<{ buildId: string; cascadeId?: string }>();

export class BaseLinks {
  constructor(
    private readonly store: BuildStore,
    private readonly images: ImageStore,
    private readonly events: BuildEvents,
    private readonly logger: Logger,
    private readonly onQueued: () => void,
  ) {}

  /** Links of a built image: one per tag and platform, to the base it was built FROM. */
  async recordBuild(definitionId: string, repository: string, tags: string[], bases: BaseRecord[], digestOf: (platform: string) => string): Promise<void> {
    for (const tag of tags) {
      const links: ImageLink[] = bases
        .filter((b) => b.tag !== undefined)
        .map((b) => ({ repository, tag, platform: b.platform, digest: digestOf(b.platform), baseRepository: b.repository, baseTag: b.tag!, baseDigest: b.digest, origin: 'build', definitionId }));
      await this.store.setLinks(repository, tag, links);
    }
  }

  async tagPushed(repository: string, tag: string, pushedBy: { buildId: string; cascadeId?: string } | undefined): Promise<void> {
    const image = await resolveImage(this.images, { repository, reference: tag, tag }).catch(() => undefined);
    if (!image) return; // not an image (an artifact, or gone already)
    const platforms = image.platforms.map((p) => ({ platform: formatPlatform(p.platform), digest: p.digest, layers: p.manifest.layers.map((l) => l.digest) }));
    await this.store.recordTaggedImages(repository, tag, platforms.map((p) => ({ repository, tag, platform: p.platform, digest: p.digest, chainId: chainIds(p.layers).at(-1) ?? 'empty', layerCount: p.layers.length })));
    if (!pushedBy) await this.linkByLayers(repository, tag, platforms);
    await this.baseMoved(repository, tag, platforms, pushedBy);
  }

  private async linkByLayers(repository: string, tag: string, platforms: Array<{ platform: string; digest: string; layers: string[] }>): Promise<void> {
    const links: ImageLink[] = [];
    for (const p of platforms) {
      const prefixes = chainIds(p.layers).slice(0, -1); // proper prefixes only
      const candidates = (await this.store.findByChain(prefixes)).filter((c) => c.platform === p.platform && !(c.repository === repository && c.tag === tag));
      // The longest matching prefix is the nearest base.
      const best = candidates.sort((a, b) => b.layerCount - a.layerCount || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag))[0];
      if (best) links.push({ repository, tag, platform: p.platform, digest: p.digest, baseRepository: best.repository, baseTag: best.tag, baseDigest: best.digest, origin: 'layers' });
    }
    // Keep links a build recorded; replace only layer-found ones.
    const existing = await this.store.linksOnImage(repository, tag);
    if (existing.some((l) => l.origin === 'build')) return;
    await this.store.setLinks(repository, tag, links);
  }

  private async baseMoved(repository: string, tag: string, platforms: Array<{ platform: string; digest: string }>, pushedBy: { cascadeId?: string } | undefined): Promise<void> {
    const links = await this.store.linksOnBase(repository, tag);
    const digestFor = new Map(platforms.map((p) => [p.platform, p.digest]));
    const moved = links.filter((l) => digestFor.has(l.platform) && digestFor.get(l.platform) !== l.baseDigest);
    if (moved.length === 0) return;
    for (const l of moved.filter((m) => m.origin === 'layers')) {
      await this.events.emit({ type: 'base.updated', repository: l.repository, tag: l.tag, platform: l.platform, digest: l.digest, base: { repository, tag, previousDigest: l.baseDigest, digest: digestFor.get(l.platform)! } });
    }
    if (pushedBy?.cascadeId) return;
    await this.queueCascade(repository, tag, digestFor.values().next().value!);
  }

  /** Queues every dependent of repository:tag, transitively, ordered so each builds after its bases. */
  private async queueCascade(repository: string, tag: string, digest: string): Promise<void> {
    const depth = new Map<string, { definitionId: string; tag: string; depth: number }>();
    const visit = async (repo: string, t: string, d: number, path: Set<string>): Promise<void> => {
      const dependents = (await this.store.linksOnBase(repo, t)).filter((l) => l.origin === 'build' && l.definitionId);
      for (const l of dependents) {
        const key = `${l.definitionId} ${l.tag}`;
        if (path.has(key)) {
          this.logger.warn({ definition: l.definitionId, tag: l.tag }, 'repository links form a loop: not following it again');
          continue;
        }
        const known = depth.get(key);
        if (known && known.depth >= d) continue;
        depth.set(key, { definitionId: l.definitionId!, tag: l.tag, depth: d });
        await visit(l.repository, l.tag, d + 1, new Set([...path, key]));
      }
    };
    await visit(repository, tag, 0, new Set([`${repository}:${tag}`]));
    const ordered = [...depth.values()].sort((a, b) => a.depth - b.depth || a.definitionId.localeCompare(b.definitionId));
    const cascadeId = randomUUID();
    let seq = 0;
    for (const item of ordered) {
      const definition = await this.store.getDefinition(item.definitionId);
      if (!definition) continue;
      const last = (await this.store.listBuilds({ definitionId: definition.id, status: 'succeeded', limit: 50 })).find((b) => b.tags.includes(item.tag));
      if (!last) continue;
      const rule = definition.rules.find((r) => matchRule(r, last.sourceType, last.sourceName) === item.tag);
      if (rule && !rule.rebuildOnBaseChange) continue;
      await this.store.enqueue(
        {
          definitionId: definition.id,
          repository: definition.repository,
          sourceType: last.sourceType,
          sourceName: last.sourceName,
          ...(last.builtCommit ? { commit: last.builtCommit } : {}),
          tags: [item.tag],
          cause: { kind: 'base-change', detail: `${repository}:${tag}@${digest}` },
          cascade: { id: cascadeId, seq: seq++ },
        },
        new Date(),
      );
      this.logger.info({ definition: definition.id, tag: item.tag, base: `${repository}:${tag}`, cascade: cascadeId }, 'base changed: rebuild queued');
    }
    if (seq > 0) this.onQueued();
  }
}
