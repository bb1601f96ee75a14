/**
 * The built-in builder: builds Dockerfiles without RUN in TypeScript, needing no container engine.
 * For each platform it walks the needed stages: FROM (an image in Pier, an earlier stage, or scratch),
 * COPY/ADD into new layers (layer-writer.ts), every other instruction into the configuration
 * (stage-config.ts). Then it pushes the final stage through the registry's use cases: base layers are
 * mounted from the base's repository, new layers streamed from their temporary files, then the config,
 * the manifests and (for several platforms) an index under each tag.
 *
 * Reproducible: file times, config and history times are the source date; entries are sorted; layers
 * are gzip at a fixed level; JSON is written in a fixed key order. The same commit gives the same digest.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type { BaseRecord, Builder, BuildJob, BuildLog, BuiltImage } from '../builder.ts';
import { neededStages } from '../builder.ts';
import { DockerfileError, splitWords, type Instruction, type ParsedDockerfile, type Stage } from '../dockerfile/parse-dockerfile.ts';
import { expandVariables, globalArgValues } from '../dockerfile/expand-variables.ts';
import { parseDockerignore, type IgnoreRule } from '../dockerfile/dockerignore.ts';
import type { ImageStore } from '../images/image-store.ts';
import { formatPlatform, isGzipLayer, layerMediaType, MEDIA, type ImageConfigJson, type Platform } from '../images/image-model.ts';
import { parseImageRef, pickPlatform, resolveImage, type ResolvedImage } from '../images/resolve-image.ts';
import { applyConfigInstruction, variables, type StageState } from './stage-config.ts';
import { copyEntries } from './copy-entries.ts';
import { writeLayer } from './layer-writer.ts';
import { applyLayer } from './extract-layers.ts';

/** Keywords the built-in builder runs; anything else needs a builder with a container runtime. */
const SUPPORTED = new Set(['COPY', 'ADD', 'ENV', 'ARG', 'LABEL', 'WORKDIR', 'USER', 'EXPOSE', 'CMD', 'ENTRYPOINT', 'VOLUME', 'HEALTHCHECK', 'STOPSIGNAL', 'SHELL', 'MAINTAINER', 'ONBUILD']);
/** COPY/ADD flags the built-in builder honours (--link changes nothing in the result). */
const COPY_FLAGS = new Set(['from', 'chown', 'chmod', 'link']);
const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz)$/i;

interface LayerRef {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  /** Where the bytes are: a repository in Pier (base layers) or a file of this build. */
  repository?: string;
  file?: string;
}

interface BuiltStage {
  layers: LayerRef[];
  state: StageState;
  /** The image at the root of this stage's FROM chain, when not scratch. */
  base?: { image: ResolvedImage; digest: string };
  fsDir?: string;
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

export class BuiltinBuilder implements Builder {
  readonly name = 'builtin' as const;

  constructor(
    private readonly store: ImageStore,
    private readonly registryHosts: () => readonly string[],
  ) {}

  unsupported(dockerfile: ParsedDockerfile, target?: string): string | undefined {
    for (const index of neededStages(dockerfile, target)) {
      for (const i of dockerfile.stages[index]!.instructions) {
        if (!SUPPORTED.has(i.keyword)) return `${i.keyword} (Dockerfile line ${i.line}) is not supported by the built-in builder, which runs no commands: the buildah builder runs it (set the definition's builder to buildah or auto, with buildah installed)`;
        if (i.keyword === 'COPY' || i.keyword === 'ADD') {
          const flag = Object.keys(i.flags).find((f) => !COPY_FLAGS.has(f));
          if (flag) return `${i.keyword} --${flag} (Dockerfile line ${i.line}) is not supported by the built-in builder (it takes --from, --chown, --chmod and --link): the buildah builder may run it`;
        }
        if (i.keyword === 'ADD') {
          const words = i.json ?? splitWords(i.args, dockerfile.escape);
          for (const source of words.slice(0, -1)) {
            if (/^[a-z]+:\/\//i.test(source) || source.startsWith('git@')) return `ADD from a URL (Dockerfile line ${i.line}) is not supported by the built-in builder, which fetches nothing from the network: the buildah builder runs it`;
            if (ARCHIVE.test(source)) return `ADD of a local archive (Dockerfile line ${i.line}, ${source}) is not supported by the built-in builder: use COPY for the file as is, or the buildah builder to extract it`;
          }
        }
      }
    }
    return undefined;
  }

  async build(job: BuildJob, dockerfile: ParsedDockerfile, log: BuildLog, signal: AbortSignal): Promise<BuiltImage> {
    const why = this.unsupported(dockerfile, job.target);
    if (why) throw new DockerfileError(why);
    const needed = [...neededStages(dockerfile, job.target)].sort((a, b) => a - b);
    const finalIndex = needed[needed.length - 1]!;
    const globalVars = globalArgValues(dockerfile, job.buildArgs);
    const images = new Map<string, Promise<ResolvedImage>>();
    const resolve = (text: string) => {
      const ref = parseImageRef(text, this.registryHosts());
      const key = `${ref.repository}@${ref.reference}`;
      if (!images.has(key)) images.set(key, resolveImage(this.store, ref));
      return images.get(key)!;
    };
    let ignore: IgnoreRule[] = [];
    try {
      ignore = parseDockerignore(await readFile(join(job.contextDir, '.dockerignore'), 'utf8'));
    } catch {
      // no .dockerignore
    }

    const platforms = job.platforms.length > 0 ? job.platforms : await this.defaultPlatforms(dockerfile, finalIndex, globalVars, resolve);
    log.line(`built-in builder: ${needed.length} stage(s), platforms ${platforms.map(formatPlatform).join(', ')}`);
    const results: Array<{ platform: Platform; stage: BuiltStage }> = [];
    let layerCount = 0;
    for (const platform of platforms) {
      const stages = new Map<number, BuiltStage>();
      for (const index of needed) {
        signal.throwIfAborted();
        const stage = dockerfile.stages[index]!;
        const built = await this.startStage(stage, dockerfile, stages, platform, globalVars, resolve, job);
        log.line(`[${formatPlatform(platform)}] stage ${index}${stage.name ? ` (${stage.name})` : ''}: FROM ${stage.from}`);
        for (const i of stage.instructions) {
          signal.throwIfAborted();
          const created = new Date(job.sourceDateEpoch * 1000).toISOString();
          if (i.keyword === 'COPY' || i.keyword === 'ADD') {
            const file = join(job.workDir, `layer-${layerCount++}.tar.gz`);
            const layer = await this.copy(i, built, stages, dockerfile, platform, resolve, job, ignore, file, signal);
            log.line(`[${formatPlatform(platform)}] ${i.original.slice(0, 200)} → ${layer.digest} (${layer.size} bytes)`);
            built.layers.push(layer);
            built.state.config.rootfs.diff_ids.push(layer.diffId);
            built.state.config.history.push({ created, created_by: i.original, comment: 'pier built-in builder' });
          } else {
            applyConfigInstruction(built.state, i, { ...this.predefinedArgs(platform), ...job.buildArgs }, dockerfile.escape);
            built.state.config.history.push({ created, created_by: i.original, comment: 'pier built-in builder', empty_layer: true });
          }
        }
        stages.set(index, built);
      }
      results.push({ platform, stage: stages.get(finalIndex)! });
    }
    return this.push(job, results, log, signal);
  }

  private predefinedArgs(platform: Platform): Record<string, string> {
    return {
      TARGETPLATFORM: formatPlatform(platform),
      TARGETOS: platform.os,
      TARGETARCH: platform.architecture,
      TARGETVARIANT: platform.variant ?? '',
    };
  }

  /** Platforms of the image at the root of the final stage's FROM chain; linux/amd64 on scratch. */
  private async defaultPlatforms(dockerfile: ParsedDockerfile, index: number, vars: Map<string, string>, resolve: (t: string) => Promise<ResolvedImage>): Promise<Platform[]> {
    const byName = new Map(dockerfile.stages.filter((s) => s.name).map((s) => [s.name!, s.index]));
    let stage = dockerfile.stages[index]!;
    for (;;) {
      const from = expandVariables(stage.from, vars, dockerfile.escape);
      const earlier = byName.get(from.toLowerCase());
      if (earlier !== undefined && earlier < stage.index) {
        stage = dockerfile.stages[earlier]!;
        continue;
      }
      if (from.toLowerCase() === 'scratch') return [{ os: 'linux', architecture: 'amd64' }];
      return (await resolve(from)).platforms.map((p) => p.platform);
    }
  }

  private async startStage(stage: Stage, dockerfile: ParsedDockerfile, stages: Map<number, BuiltStage>, platform: Platform, vars: Map<string, string>, resolve: (t: string) => Promise<ResolvedImage>, job: BuildJob): Promise<BuiltStage> {
    const from = expandVariables(stage.from, vars, dockerfile.escape);
    const earlier = dockerfile.stages.find((s) => s.name === from.toLowerCase() && s.index < stage.index);
    const state = (config: ImageConfigJson): StageState => ({ config, args: new Map(), cmdSetHere: false });
    if (earlier) {
      const prior = stages.get(earlier.index)!;
      return { layers: [...prior.layers], state: { ...state(clone(prior.state.config)) }, ...(prior.base ? { base: prior.base } : {}) };
    }
    if (from.toLowerCase() === 'scratch') {
      return {
        layers: [],
        state: state({ architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}), config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] }),
      };
    }
    const image = await resolve(from);
    const picked = pickPlatform(image, platform);
    const config = clone(picked.config);
    config.history ??= [];
    config.config ??= {};
    delete (config as { container_config?: unknown }).container_config;
    const layers = picked.manifest.layers.map((d, n) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: config.rootfs.diff_ids[n]!, repository: image.ref.repository }));
    void job;
    return { layers, state: state(config), base: { image, digest: picked.digest } };
  }

  private async copy(i: Instruction, built: BuiltStage, stages: Map<number, BuiltStage>, dockerfile: ParsedDockerfile, platform: Platform, resolve: (t: string) => Promise<ResolvedImage>, job: BuildJob, ignore: IgnoreRule[], file: string, signal: AbortSignal): Promise<LayerRef> {
    const vars = variables(built.state);
    const expand = (text: string) => expandVariables(text, vars, dockerfile.escape);
    const words = (i.json ?? splitWords(i.args, dockerfile.escape)).map(expand);
    if (words.length < 2) throw new DockerfileError(`${i.keyword} needs a source and a destination`, i.line);
    const sources = words.slice(0, -1);
    let destination = words[words.length - 1]!;
    if (!destination.startsWith('/')) destination = posix.join(built.state.config.config.WorkingDir || '/', destination) + (destination.endsWith('/') || destination === '.' ? '/' : '');
    let root = job.contextDir;
    let rules = ignore;
    const from = i.flags.from !== undefined ? expand(i.flags.from) : undefined;
    if (from !== undefined) {
      root = await this.stageFilesystem(from, stages, dockerfile, platform, resolve, job, signal);
      rules = [];
    }
    let owner: { uid: number; gid: number } | undefined;
    if (i.flags.chown !== undefined) {
      const m = /^(\d+|root)(?::(\d+|root))?$/.exec(expand(i.flags.chown));
      if (!m) throw new DockerfileError(`${i.keyword} --chown: the built-in builder takes numeric uid[:gid] (or root), not ${JSON.stringify(i.flags.chown.slice(0, 40))}`, i.line);
      const uid = m[1] === 'root' ? 0 : Number(m[1]);
      owner = { uid, gid: m[2] === undefined ? uid : m[2] === 'root' ? 0 : Number(m[2]) };
    }
    let chmod: number | undefined;
    if (i.flags.chmod !== undefined) {
      if (!/^[0-7]{3,4}$/.test(i.flags.chmod)) throw new DockerfileError(`${i.keyword} --chmod: expected an octal mode such as 0755`, i.line);
      chmod = parseInt(i.flags.chmod, 8);
    }
    let entries;
    try {
      entries = await copyEntries({ root, sources, destination, ignore: rules, mtime: new Date(job.sourceDateEpoch * 1000), ...(owner ? { owner } : {}), ...(chmod !== undefined ? { chmod } : {}) });
    } catch (error) {
      throw new DockerfileError(`${i.keyword}: ${(error as Error).message}`, i.line);
    }
    const layer = await writeLayer(entries, file, signal);
    return { mediaType: MEDIA.ociLayerGzip, digest: layer.digest, size: layer.size, diffId: layer.diffId, file: layer.file };
  }

  /** The files of an earlier stage (or an image in Pier) for `COPY --from`, extracted once per platform. */
  private async stageFilesystem(from: string, stages: Map<number, BuiltStage>, dockerfile: ParsedDockerfile, platform: Platform, resolve: (t: string) => Promise<ResolvedImage>, job: BuildJob, signal: AbortSignal): Promise<string> {
    const named = dockerfile.stages.find((s) => s.name === from.toLowerCase()) ?? (/^\d+$/.test(from) ? dockerfile.stages[Number(from)] : undefined);
    let layers: LayerRef[];
    let holder: { fsDir?: string };
    if (named && stages.has(named.index)) {
      holder = stages.get(named.index)!;
      layers = stages.get(named.index)!.layers;
    } else {
      const picked = pickPlatform(await resolve(from), platform);
      const repository = (await resolve(from)).ref.repository;
      layers = picked.manifest.layers.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, diffId: '', repository }));
      holder = {};
    }
    if (holder.fsDir) return holder.fsDir;
    const dir = join(job.workDir, `fs-${createHash('sha256').update(`${formatPlatform(platform)} ${from}`).digest('hex').slice(0, 16)}`);
    await mkdir(dir, { recursive: true });
    for (const layer of layers) {
      signal.throwIfAborted();
      const stream = layer.file ? createReadStream(layer.file) : await this.store.openBlob(layer.repository!, layer.digest);
      await applyLayer(dir, stream, isGzipLayer(layer.mediaType) || layer.file !== undefined);
    }
    holder.fsDir = dir;
    return dir;
  }

  private async push(job: BuildJob, results: Array<{ platform: Platform; stage: BuiltStage }>, log: BuildLog, signal: AbortSignal): Promise<BuiltImage> {
    const { repository, format } = job;
    const manifestType = format === 'oci' ? MEDIA.ociManifest : MEDIA.dockerManifest;
    const configType = format === 'oci' ? MEDIA.ociConfig : MEDIA.dockerConfig;
    const pushed: Array<{ platform: Platform; digest: string; size: number }> = [];
    const bases: BaseRecord[] = [];
    for (const { platform, stage } of results) {
      for (const layer of stage.layers) {
        signal.throwIfAborted();
        if (await this.store.mountBlob(repository, layer.digest, layer.repository)) continue;
        const body = layer.file ? createReadStream(layer.file) : await this.store.openBlob(layer.repository!, layer.digest);
        await this.store.pushBlob(repository, layer.digest, body);
      }
      const config = stage.state.config;
      config.created = new Date(job.sourceDateEpoch * 1000).toISOString();
      const configBytes = Buffer.from(JSON.stringify(config));
      const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
      if (!(await this.store.mountBlob(repository, configDigest))) await this.store.pushBlob(repository, configDigest, Readable.from([configBytes]));
      const manifest = {
        schemaVersion: 2,
        mediaType: manifestType,
        config: { mediaType: configType, digest: configDigest, size: configBytes.length },
        layers: stage.layers.map((l) => ({ mediaType: layerMediaType(l.mediaType, format), digest: l.digest, size: l.size })),
      };
      const body = Buffer.from(JSON.stringify(manifest));
      const digest = await this.store.putManifest(repository, `sha256:${createHash('sha256').update(body).digest('hex')}`, body, manifestType);
      pushed.push({ platform, digest, size: body.length });
      if (stage.base) bases.push({ platform: formatPlatform(platform), repository: stage.base.image.ref.repository, ...(stage.base.image.ref.tag ? { tag: stage.base.image.ref.tag } : {}), digest: stage.base.digest, referenceDigest: stage.base.image.digest });
      log.line(`[${formatPlatform(platform)}] pushed ${repository}@${digest}`);
    }
    let top: { body: Buffer; mediaType: string };
    if (pushed.length === 1) {
      const only = await this.store.getManifest(repository, pushed[0]!.digest);
      top = { body: only!.body, mediaType: manifestType };
    } else {
      const indexType = format === 'oci' ? MEDIA.ociIndex : MEDIA.dockerList;
      const index = { schemaVersion: 2, mediaType: indexType, manifests: pushed.map((p) => ({ mediaType: manifestType, digest: p.digest, size: p.size, platform: p.platform })) };
      top = { body: Buffer.from(JSON.stringify(index)), mediaType: indexType };
    }
    let digest = '';
    for (const tag of job.tags) {
      signal.throwIfAborted();
      digest = await this.store.putManifest(repository, tag, top.body, top.mediaType);
      log.line(`tagged ${repository}:${tag} → ${digest}`);
    }
    return { digest, mediaType: top.mediaType, bases, platformDigests: Object.fromEntries(pushed.map((p) => [formatPlatform(p.platform), p.digest])) };
  }
}
