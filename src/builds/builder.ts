/**
 * The one interface every builder implements (built-in, buildah; Kubernetes Jobs are documented in
 * docs/builds.md), and what a build is asked to produce. A builder pushes the image it built into the
 * registry and reports what it pushed and which base image each platform was built on.
 */
import type { ParsedDockerfile } from './dockerfile/parse-dockerfile.ts';
import type { OutputFormat, Platform } from './images/image-model.ts';

export interface BuildJob {
  /** Where the image goes, and under which tags. */
  repository: string;
  tags: string[];
  /** The checked-out source (context folder) and the Dockerfile, both absolute paths. */
  contextDir: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** Platforms to build; empty: every platform of the base (linux/amd64 on scratch). */
  platforms: Platform[];
  /** Build this stage instead of the last. */
  target?: string;
  format: OutputFormat;
  /** Time stamps in the image (files, config, history), seconds since the epoch: the commit's time. */
  sourceDateEpoch: number;
  /** A scratch folder of this build, removed afterwards. */
  workDir: string;
}

/** The base image one platform of a built image was built `FROM`, resolved to digests. */
export interface BaseRecord {
  platform: string;
  repository: string;
  tag?: string;
  /** Digest of the base's manifest for this platform. */
  digest: string;
  /** Digest the base's reference resolved to (its index, for a multi-platform base). */
  referenceDigest: string;
}

export interface BuiltImage {
  digest: string;
  mediaType: string;
  /** Per platform; empty when every stage was `FROM scratch`. */
  bases: BaseRecord[];
  /** Manifest digest of each platform (`linux/amd64` → digest). */
  platformDigests?: Record<string, string>;
}

export interface BuildLog {
  line(text: string): void;
}

export interface Builder {
  readonly name: 'builtin' | 'buildah';
  /** Why this builder cannot build the Dockerfile (naming the instruction and a builder that can), or undefined. */
  unsupported(dockerfile: ParsedDockerfile, target?: string): string | undefined;
  build(job: BuildJob, dockerfile: ParsedDockerfile, log: BuildLog, signal: AbortSignal): Promise<BuiltImage>;
}

/** The stages a target needs: itself and, transitively, the stages it is built FROM or copies from. */
export function neededStages(dockerfile: ParsedDockerfile, target?: string): Set<number> {
  const byName = new Map(dockerfile.stages.filter((s) => s.name).map((s) => [s.name!, s.index]));
  const last = dockerfile.stages.length - 1;
  const start = target === undefined ? last : byName.get(target.toLowerCase());
  if (start === undefined) throw new Error(`no stage named ${JSON.stringify(target)} in the Dockerfile`);
  const needed = new Set<number>();
  const visit = (index: number) => {
    if (needed.has(index)) return;
    needed.add(index);
    const stage = dockerfile.stages[index]!;
    const fromStage = byName.get(stage.from.toLowerCase());
    if (fromStage !== undefined && fromStage < index) visit(fromStage);
    for (const i of stage.instructions) {
      const from = i.flags.from?.toLowerCase();
      if (from === undefined) continue;
      const byIndex = /^\d+$/.test(from) ? Number(from) : byName.get(from);
      if (byIndex !== undefined && byIndex < index) visit(byIndex);
    }
  };
  visit(start);
  return needed;
}
