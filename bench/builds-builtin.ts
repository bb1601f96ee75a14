/**
 * The built-in builder's time and peak memory for a build context of a given size:
 *   node --import tsx bench/builds-builtin.ts <megabytes>
 * Makes a context of incompressible files (4 MiB each, plus a few small ones), builds
 * `FROM scratch` + `COPY . /data/` into a fresh data directory through the registry's use cases, and
 * prints wall time and the process's peak resident memory (one build per process, so the peak is its own).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistry } from '../src/main/open-registry.ts';
import { createLogger } from '../src/observability/logger.ts';
import { RegistryImageStore } from '../src/builds/images/registry-image-store.ts';
import { BuiltinBuilder } from '../src/builds/builtin/builtin-builder.ts';
import { parseDockerfile } from '../src/builds/dockerfile/parse-dockerfile.ts';

const megabytes = Number(process.argv[2] ?? '1');
const root = mkdtempSync(join(tmpdir(), 'pier-bench-build-'));
const context = join(root, 'context');
mkdirSync(join(context, 'small'), { recursive: true });
for (let i = 0; i < 20; i++) writeFileSync(join(context, 'small', `f${i}.txt`), `file ${i}\n`.repeat(50));
const chunk = 4 * 1024 * 1024;
for (let written = 0, n = 0; written + 1 <= megabytes * 1024 * 1024 - 20_000; n++) {
  const size = Math.min(chunk, megabytes * 1024 * 1024 - written);
  if (size < 4096) break;
  writeFileSync(join(context, `blob-${n}.bin`), randomBytes(size));
  written += size;
}
writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY . /data/\nCMD ["/data/small/f0.txt"]\n');

const opened = await openRegistry({ dataDir: join(root, 'data'), logger: createLogger('silent') });
const builder = new BuiltinBuilder(new RegistryImageStore(opened.registry), () => []);
const before = process.memoryUsage().rss;
const work = join(root, 'work');
mkdirSync(work);
const started = process.hrtime.bigint();
const image = await builder.build(
  { repository: 'bench/app', tags: ['latest'], contextDir: context, dockerfile: join(context, 'Dockerfile'), buildArgs: {}, platforms: [], format: 'oci', sourceDateEpoch: 1_700_000_000, workDir: work },
  parseDockerfile('FROM scratch\nCOPY . /data/\nCMD ["/data/small/f0.txt"]\n'),
  { line: () => undefined },
  new AbortController().signal,
);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const peakMiB = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ contextMiB: megabytes, seconds: Math.round(seconds * 100) / 100, peakRssMiB: Math.round(peakMiB), rssBeforeBuildMiB: Math.round(before / 1048576), digest: image.digest })}\n`);
await opened.close();
rmSync(root, { recursive: true, force: true });
