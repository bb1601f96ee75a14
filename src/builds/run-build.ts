/**
 * One build, start to finish: fetch the commit, read the Dockerfile, pick the builder, build and push,
 * record the image's links to its bases. Runs inside `buildContext`, so the pushes it makes are known
 * to be this build's. Throws on failure; the queue records the outcome.
 */
import { readFile, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Builder, BuildLog, BuiltImage } from './builder.ts';
import { parseDockerfile } from './dockerfile/parse-dockerfile.ts';
import { displayUrl, fetchSource, type FetchedSource } from './git/git-source.ts';
import { extractArchive } from './archive-source.ts';
import { parsePlatform } from './images/image-model.ts';
import { checkSourceHost } from './model/definition.ts';
import type { BuildRecord, BuildStore } from './queue/build-store.ts';
import { buildContext, type BaseLinks } from './links/base-links.ts';
import type { ImageStore } from './images/image-store.ts';

export interface RunBuildDeps {
  store: BuildStore;
  images: ImageStore;
  links: BaseLinks;
  builtin: Builder;
  /** Where uploaded context archives are kept. */
  archives: string;
  /** builds.sourcehosts (empty: any). */
  sourceHosts: readonly string[];
  /** undefined when buildah is not installed. */
  buildah?: Builder;
}

export interface RunResult {
  builder: string;
  commit: string;
  image: BuiltImage;
}

async function inside(root: string, relative: string, what: string): Promise<string> {
  const real = await realpath(join(root, relative)).catch(() => {
    throw new Error(`${what} ${relative} not found in the source`);
  });
  const realRoot = await realpath(root);
  if (real !== realRoot && !real.startsWith(realRoot + sep)) throw new Error(`${what} ${relative} points outside the source`);
  return real;
}

export async function runBuild(build: BuildRecord, workDir: string, deps: RunBuildDeps, log: BuildLog, signal: AbortSignal): Promise<RunResult> {
  const definition = await deps.store.getDefinition(build.definitionId);
  if (!definition) throw new Error(`build definition ${build.definitionId} no longer exists`);
  let source: FetchedSource;
  if (build.archive) {
    log.line(`context: uploaded archive ${build.archive.digest}`);
    const dir = join(workDir, 'source', 'src');
    await extractArchive(deps.archives, build.archive.id, dir);
    source = { dir, commit: build.archive.digest, commitTime: 0 };
  } else {
    if (!definition.source) throw new Error(`build definition ${definition.id} has no git source: it builds only uploaded context archives`);
    checkSourceHost(definition.source.url, deps.sourceHosts);
    log.line(`fetching ${displayUrl(definition.source.url)} ${build.sourceType.toLowerCase()} ${build.sourceName}${build.commit ? ` at ${build.commit}` : ''}`);
    source = await fetchSource(definition.source, { sourceType: build.sourceType, name: build.sourceName, ...(build.commit ? { commit: build.commit } : {}) }, join(workDir, 'source'), signal);
    log.line(`commit ${source.commit} (${new Date(source.commitTime * 1000).toISOString()})`);
  }
  const contextDir = await inside(source.dir, definition.context, 'context');
  const dockerfilePath = await inside(source.dir, definition.dockerfile, 'Dockerfile');
  const dockerfile = parseDockerfile(await readFile(dockerfilePath, 'utf8'));

  let builder: Builder;
  const builtinProblem = deps.builtin.unsupported(dockerfile, definition.target);
  if (definition.builder === 'builtin' || (definition.builder === 'auto' && builtinProblem === undefined)) {
    if (builtinProblem) throw new Error(builtinProblem);
    builder = deps.builtin;
  } else if (deps.buildah) {
    builder = deps.buildah;
  } else {
    throw new Error(`${builtinProblem ?? 'this definition asks for the buildah builder'}; but buildah is not installed on this host (Debian package buildah)`);
  }
  log.line(`builder: ${builder.name}`);
  const epochArg = definition.buildArgs.SOURCE_DATE_EPOCH;
  const sourceDateEpoch = epochArg !== undefined && /^\d+$/.test(epochArg) ? Number(epochArg) : source.commitTime;
  const image = await buildContext.run({ buildId: build.id, ...(build.cascade ? { cascadeId: build.cascade.id } : {}) }, () =>
    builder.build(
      {
        repository: definition.repository,
        tags: build.tags,
        contextDir,
        dockerfile: dockerfilePath,
        buildArgs: definition.buildArgs,
        platforms: definition.platforms.map(parsePlatform),
        ...(definition.target ? { target: definition.target } : {}),
        format: definition.format,
        sourceDateEpoch,
        workDir,
      },
      dockerfile,
      log,
      signal,
    ),
  );
  await deps.links.recordBuild(definition.id, definition.repository, build.tags, image.bases, (platform) => image.platformDigests?.[platform] ?? image.digest);
  return { builder: builder.name, commit: source.commit, image };
}
