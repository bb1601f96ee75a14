/**
 * Automated builds, the facade http/ and cli/ use: definitions, starting builds (API, source webhooks,
 * Hub-style trigger URLs), cancelling, history and logs. Trigger tokens are random, shown once, stored
 * as a SHA-256 hash and compared in constant time; rotating one voids the previous.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { BuildQueue } from './queue/build-queue.ts';
import type { BuildRecord, BuildStore } from './queue/build-store.ts';
import { checkSourceHost, parseDefinition, type BuildDefinition } from './model/definition.ts';
import { matchRule, type SourceType } from './model/build-rules.ts';
import { parsePushEvent } from './triggers/source-webhooks.ts';
import { targetsOf } from './triggers/trigger-body.ts';
import { ArchiveTooLarge, storeArchive } from './archive-source.ts';

export class BuildsError extends Error {
  constructor(
    readonly status: 400 | 401 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** Largest context archive accepted over the API. */
const MAX_CONTEXT_BYTES = 2 * 1024 ** 3;

const hash = (token: string): string => createHash('sha256').update(token).digest('hex');

export class Builds {
  constructor(
    readonly store: BuildStore,
    readonly queue: BuildQueue,
    /** builds.sourcehosts: the git hosts definitions may name (empty: any). */
    private readonly sourceHosts: readonly string[] = [],
    /** Folder of uploaded context archives. */
    private readonly archives = '',
  ) {}

  /** Builds an uploaded context archive (tar or tar.gz) with the definition's Dockerfile, under `tag`. */
  async uploadContext(id: string, body: AsyncIterable<Buffer>, tag: string): Promise<BuildRecord> {
    const d = await this.definition(id);
    let stored;
    try {
      stored = await storeArchive(this.archives, body, MAX_CONTEXT_BYTES);
    } catch (error) {
      if (error instanceof ArchiveTooLarge) throw new BuildsError(400, error.message);
      throw error;
    }
    const { build } = await this.queue.enqueue({ definitionId: id, repository: d.repository, sourceType: 'Branch', sourceName: '(upload)', tags: [tag], cause: { kind: 'upload' }, archive: { id: stored.id, digest: stored.digest } });
    return build;
  }

  async define(input: unknown, id?: string): Promise<BuildDefinition> {
    const definition = parseDefinition(input, 'api', id);
    if (definition.source) checkSourceHost(definition.source.url, this.sourceHosts);
    const existing = await this.store.getDefinition(definition.id);
    if (existing?.origin === 'config') throw new BuildsError(409, `definition ${definition.id} comes from the config file: change it there`);
    // Secrets left out of an update keep their stored values (for the same source URL).
    const merged: BuildDefinition = { ...definition };
    const before = existing?.source;
    if (merged.source && before && before.url === merged.source.url) {
      merged.source = { ...merged.source, ...(merged.source.token === undefined && before.token ? { token: before.token } : {}), ...(merged.source.sshKey === undefined && before.sshKey ? { sshKey: before.sshKey } : {}) };
    }
    if (merged.webhookSecret === undefined && existing?.webhookSecret) merged.webhookSecret = existing.webhookSecret;
    await this.store.putDefinition(merged);
    return merged;
  }

  /** Replaces the config file's definitions with `definitions` (those removed from the file are deleted). */
  async syncConfigDefinitions(definitions: BuildDefinition[]): Promise<void> {
    for (const d of definitions) if (d.source) checkSourceHost(d.source.url, this.sourceHosts);
    const keep = new Set(definitions.map((d) => d.id));
    for (const d of await this.store.listDefinitions()) if (d.origin === 'config' && !keep.has(d.id)) await this.store.deleteDefinition(d.id);
    for (const d of definitions) await this.store.putDefinition(d);
  }

  async definition(id: string): Promise<BuildDefinition> {
    const d = await this.store.getDefinition(id);
    if (!d) throw new BuildsError(404, `no build definition ${id}`);
    return d;
  }

  async remove(id: string): Promise<void> {
    const d = await this.definition(id);
    if (d.origin === 'config') throw new BuildsError(409, `definition ${id} comes from the config file: remove it there`);
    await this.store.deleteDefinition(id);
  }

  /** A new trigger token for the definition, returned once. */
  async rotateTriggerToken(id: string): Promise<string> {
    await this.definition(id);
    const token = randomBytes(24).toString('base64url');
    await this.store.setTriggerToken(id, hash(token));
    return token;
  }

  /** Builds a branch or tag now, with the tags its rules give (or `tag` when given). */
  async start(id: string, sourceType: SourceType, sourceName: string, options: { commit?: string; tag?: string; cause?: BuildRecord['cause'] } = {}): Promise<BuildRecord[]> {
    const d = await this.definition(id);
    if (!d.source) throw new BuildsError(400, `definition ${id} has no git source: upload a context archive instead`);
    const tags = options.tag ? [options.tag] : [...new Set(d.rules.map((r) => matchRule(r, sourceType, sourceName)).filter((t): t is string => t !== undefined))];
    if (tags.length === 0) throw new BuildsError(400, `no build rule of ${id} matches ${sourceType} ${sourceName}`);
    const { build } = await this.queue.enqueue({ definitionId: id, repository: d.repository, sourceType, sourceName, ...(options.commit ? { commit: options.commit } : {}), tags, cause: options.cause ?? { kind: 'api' } });
    return [build];
  }

  /** A source webhook: verifies it, then queues the builds whose autobuild rules match the pushed ref. */
  async webhook(id: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ builds: BuildRecord[]; ignored?: string }> {
    const d = await this.store.getDefinition(id);
    if (!d) throw new BuildsError(404, 'no such build definition');
    if (!d.source) throw new BuildsError(400, `definition ${id} has no git source`);
    const event = parsePushEvent(headers, body, d.webhookSecret);
    if (event.kind === 'ignored') return { builds: [], ignored: event.reason };
    const tags = [...new Set(d.rules.filter((r) => r.autobuild).map((r) => matchRule(r, event.sourceType, event.name)).filter((t): t is string => t !== undefined))];
    if (tags.length === 0) return { builds: [], ignored: `no autobuild rule matches ${event.sourceType} ${event.name}` };
    const { build } = await this.queue.enqueue({ definitionId: id, repository: d.repository, sourceType: event.sourceType, sourceName: event.name, ...(event.commit ? { commit: event.commit } : {}), tags, cause: { kind: 'webhook', detail: event.provider } });
    return { builds: [build] };
  }

  /** A Hub-style trigger URL call. */
  async trigger(id: string, token: string, body: Record<string, unknown>): Promise<BuildRecord[]> {
    const stored = await this.store.triggerTokenHash(id);
    const given = Buffer.from(hash(token));
    // Unknown definitions and wrong tokens look the same to the caller.
    if (stored === undefined || !timingSafeEqual(given, Buffer.from(stored))) throw new BuildsError(401, 'invalid trigger token');
    const d = await this.definition(id);
    if (!d.source) throw new BuildsError(400, `definition ${id} has no git source: upload a context archive instead`);
    let targets;
    try {
      targets = targetsOf(d.rules, body);
    } catch (error) {
      throw new BuildsError(400, (error as Error).message);
    }
    if (targets.length === 0) throw new BuildsError(400, 'no build rule matches this trigger');
    const grouped = new Map<string, { sourceType: SourceType; sourceName: string; tags: string[] }>();
    for (const t of targets) {
      const key = `${t.sourceType} ${t.sourceName}`;
      const group = grouped.get(key) ?? { sourceType: t.sourceType, sourceName: t.sourceName, tags: [] };
      if (!group.tags.includes(t.tag)) group.tags.push(t.tag);
      grouped.set(key, group);
    }
    const builds: BuildRecord[] = [];
    for (const g of grouped.values()) builds.push((await this.queue.enqueue({ definitionId: id, repository: d.repository, ...g, cause: { kind: 'trigger' } })).build);
    return builds;
  }

  async build(id: string): Promise<BuildRecord> {
    const b = await this.store.getBuild(id);
    if (!b) throw new BuildsError(404, `no build ${id}`);
    return b;
  }

  async cancel(id: string): Promise<BuildRecord> {
    await this.build(id);
    return (await this.queue.cancel(id))!;
  }
}

/** A build as the API shows it. */
export function buildJson(b: BuildRecord): Record<string, unknown> {
  const durationMs = b.startedAt && b.finishedAt ? b.finishedAt.getTime() - b.startedAt.getTime() : null;
  return {
    id: b.id,
    definition: b.definitionId,
    repository: b.repository,
    status: b.status,
    sourceType: b.sourceType,
    sourceName: b.sourceName,
    commit: b.builtCommit ?? b.commit ?? null,
    archive: b.archive?.digest ?? null,
    tags: b.tags,
    cause: b.cause,
    cascade: b.cascade ?? null,
    queuedAt: b.queuedAt.toISOString(),
    startedAt: b.startedAt?.toISOString() ?? null,
    finishedAt: b.finishedAt?.toISOString() ?? null,
    durationMs,
    attempts: b.attempts,
    builder: b.builder ?? null,
    digest: b.digest ?? null,
    bases: b.bases,
    error: b.error ?? null,
  };
}
