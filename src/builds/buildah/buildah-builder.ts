/**
 * The buildah builder, for Dockerfiles with RUN. It runs `buildah bud` with chroot isolation on vfs
 * storage in the build's own scratch folder (root, no daemon, no network for RUN), with base images taken
 * from Pier: each FROM image is exported from the registry to an OCI layout and loaded into that storage
 * under the name the Dockerfile uses, and buildah never pulls. The result is written to an OCI layout and
 * pushed through the registry's use cases like the built-in builder's images.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BaseRecord, Builder, BuildJob, BuildLog, BuiltImage } from '../builder.ts';
import { neededStages } from '../builder.ts';
import type { ParsedDockerfile } from '../dockerfile/parse-dockerfile.ts';
import { expandVariables, globalArgValues } from '../dockerfile/expand-variables.ts';
import type { ImageStore } from '../images/image-store.ts';
import { formatPlatform, isIndex, type ImageIndexJson, type ImageManifestJson } from '../images/image-model.ts';
import { parseImageRef, resolveImage } from '../images/resolve-image.ts';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: BuildLog, signal: AbortSignal, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    // Its own process group, so a cancel or timeout also stops what RUN started.
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...(cwd ? { cwd } : {}) });
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    signal.addEventListener('abort', kill, { once: true });
    child.once('close', () => signal.removeEventListener('abort', kill));
    let tail = '';
    const onData = (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line.trim()) log.line(line);
      tail = (tail + d.toString()).slice(-2000);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => reject((error as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`${cmd} is not installed (Debian package ${cmd})`) : error));
    child.on('close', (code) => {
      if (signal.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      if (code === 0) return resolve();
      reject(new Error(`${cmd} exited with ${code}: ${tail.trim().split('\n').slice(-2).join(' ')}`));
    });
  });
}

export class BuildahBuilder implements Builder {
  readonly name = 'buildah' as const;

  constructor(
    private readonly store: ImageStore,
    private readonly registryHosts: () => readonly string[],
  ) {}

  unsupported(): string | undefined {
    return undefined;
  }

  async build(job: BuildJob, dockerfile: ParsedDockerfile, log: BuildLog, signal: AbortSignal): Promise<BuiltImage> {
    const root = join(job.workDir, 'buildah');
    await mkdir(join(root, 'tmp'), { recursive: true });
    await writeFile(join(root, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(root, 'graph')}"\nrunroot = "${join(root, 'run')}"\n`);
    await writeFile(join(root, 'containers.conf'), `[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\ntmp_dir = "${join(root, 'tmp')}"\n[network]\nnetwork_backend = "cni"\nnetwork_config_dir = "${join(root, 'net')}"\n`);
    await writeFile(join(root, 'policy.json'), '{"default":[{"type":"insecureAcceptAnything"}]}\n');
    await writeFile(join(root, 'registries.conf'), 'unqualified-search-registries = []\n');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: root,
      TMPDIR: join(root, 'tmp'),
      CONTAINERS_STORAGE_CONF: join(root, 'storage.conf'),
      CONTAINERS_CONF: join(root, 'containers.conf'),
      CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf'),
      BUILDAH_ISOLATION: 'chroot',
      SOURCE_DATE_EPOCH: String(job.sourceDateEpoch),
    };
    const common = ['--storage-driver', 'vfs', '--root', join(root, 'graph'), '--runroot', join(root, 'run')];

    // Bases: from Pier into local storage, under the names the Dockerfile uses.
    const vars = globalArgValues(dockerfile, job.buildArgs);
    const names = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
    const bases: Array<{ name: string; record: Omit<BaseRecord, 'platform'> & { platforms: Record<string, string> } }> = [];
    for (const index of neededStages(dockerfile, job.target)) {
      const from = expandVariables(dockerfile.stages[index]!.from, vars, dockerfile.escape);
      if (from.toLowerCase() === 'scratch' || names.has(from.toLowerCase()) || bases.some((b) => b.name === from)) continue;
      const ref = parseImageRef(from, this.registryHosts());
      const image = await resolveImage(this.store, ref);
      const layoutName = `base-${bases.length}`;
      const layout = join(root, layoutName);
      await this.exportLayout(ref.repository, image.digest, layout);
      log.line(`base ${from} → ${ref.repository}@${image.digest}`);
      // A relative layout path (run in `root`): buildah names the pulled image after it, and the absolute
      // path may hold capitals, which an image name may not.
      await run('buildah', [...common, 'pull', '--signature-policy', join(root, 'policy.json'), '--quiet', `oci:${layoutName}:base`], env, log, signal, root);
      await run('buildah', [...common, 'tag', await this.localId(layout), from], env, log, signal);
      bases.push({ name: from, record: { repository: ref.repository, ...(ref.tag ? { tag: ref.tag } : {}), digest: image.digest, referenceDigest: image.digest, platforms: Object.fromEntries(image.platforms.map((p) => [formatPlatform(p.platform), p.digest])) } });
    }
    const platforms = job.platforms.map(formatPlatform);
    const args = [...common, 'bud', '--isolation', 'chroot', '--pull-never', '--signature-policy', join(root, 'policy.json'), '--layers=false', '--timestamp', String(job.sourceDateEpoch), '--identity-label=false', '--format', job.format === 'oci' ? 'oci' : 'docker', '-f', job.dockerfile, '--manifest', 'pier-build'];
    for (const [k, v] of Object.entries(job.buildArgs)) args.push('--build-arg', `${k}=${v}`);
    if (job.target) args.push('--target', job.target);
    if (platforms.length > 0) args.push('--platform', platforms.join(','));
    args.push(job.contextDir);
    await run('buildah', args, env, log, signal);
    const out = join(root, 'out');
    await run('buildah', [...common, 'manifest', 'push', '--all', '--signature-policy', join(root, 'policy.json'), '--format', job.format === 'oci' ? 'oci' : 'v2s2', 'pier-build', `oci:${out}:image`], env, log, signal);
    const pushed = await this.importLayout(out, job, log);
    const finalBase = bases.find((b) => b.name === expandVariables(dockerfile.stages[[...neededStages(dockerfile, job.target)].sort((a, b) => b - a)[0]!]!.from, vars, dockerfile.escape));
    const baseRecords: BaseRecord[] = finalBase
      ? Object.keys(pushed.platformDigests).filter((p) => finalBase.record.platforms[p]).map((p) => ({ platform: p, repository: finalBase.record.repository, ...(finalBase.record.tag ? { tag: finalBase.record.tag } : {}), digest: finalBase.record.platforms[p]!, referenceDigest: finalBase.record.referenceDigest }))
      : [];
    return { ...pushed, bases: baseRecords };
  }

  private async localId(layout: string): Promise<string> {
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndexJson;
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as ImageManifestJson;
    return manifest.config.digest.slice(7); // buildah names a pulled image by its config digest
  }

  /** Writes the image (a single manifest; for an index, the amd64 or first platform) as an OCI layout. */
  private async exportLayout(repository: string, digest: string, dir: string): Promise<void> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const top = (await this.store.getManifest(repository, digest))!;
    let manifest = top;
    if (isIndex(top.mediaType)) {
      const index = JSON.parse(top.body.toString('utf8')) as ImageIndexJson;
      const child = index.manifests.find((m) => m.platform?.architecture === 'amd64') ?? index.manifests[0]!;
      manifest = (await this.store.getManifest(repository, child.digest))!;
    }
    const parsed = JSON.parse(manifest.body.toString('utf8')) as ImageManifestJson;
    for (const blob of [parsed.config, ...parsed.layers]) await pipeline(await this.store.openBlob(repository, blob.digest), createWriteStream(join(dir, 'blobs', 'sha256', blob.digest.slice(7))));
    await writeFile(join(dir, 'blobs', 'sha256', manifest.digest.slice(7)), manifest.body);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.body.length, annotations: { 'org.opencontainers.image.ref.name': 'base' } }] }));
  }

  /** Pushes an OCI layout's image (index or manifest) through the registry's use cases under every tag. */
  private async importLayout(dir: string, job: BuildJob, log: BuildLog): Promise<Omit<BuiltImage, 'bases'> & { platformDigests: Record<string, string> }> {
    const blob = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice(7));
    const layoutIndex = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndexJson;
    const top = layoutIndex.manifests[0]!;
    const pushManifest = async (digest: string, mediaType: string): Promise<void> => {
      const body = await readFile(blob(digest));
      const parsed = JSON.parse(body.toString('utf8')) as ImageManifestJson;
      for (const d of [parsed.config, ...parsed.layers]) {
        if (!(await this.store.mountBlob(job.repository, d.digest))) await this.store.pushBlob(job.repository, d.digest, createReadStream(blob(d.digest)));
      }
      await this.store.putManifest(job.repository, digest, body, mediaType);
    };
    const platformDigests: Record<string, string> = {};
    let body = await readFile(blob(top.digest));
    let mediaType = top.mediaType;
    if (isIndex(top.mediaType)) {
      const index = JSON.parse(body.toString('utf8')) as ImageIndexJson;
      for (const child of index.manifests) {
        await pushManifest(child.digest, child.mediaType);
        if (child.platform) platformDigests[formatPlatform(child.platform)] = child.digest;
      }
      if (index.manifests.length === 1) {
        // one platform: push the manifest itself, as the built-in builder does
        body = await readFile(blob(index.manifests[0]!.digest));
        mediaType = index.manifests[0]!.mediaType;
      }
    } else {
      await pushManifest(top.digest, top.mediaType);
    }
    let digest = '';
    for (const tag of job.tags) {
      digest = await this.store.putManifest(job.repository, tag, body, mediaType);
      log.line(`tagged ${job.repository}:${tag} → ${digest}`);
    }
    return { digest, mediaType, platformDigests };
  }
}
