/**
 * Pier alone (full run only): one repository with hundreds of thousands of tags, listed with large pages
 * following Link headers. The reference registry cannot page tags (its tags/list ignores n and last).
 *
 * Population: every tag PUT costs several fsyncs (about a thousand a second on the bench machine), so
 * 500,000 PUTs would take most of an hour. The bench PUTs tags through the API for a fixed time (the
 * PUT rate is a figure), then stops this Pier, writes the remaining tags into its data directory in the
 * reference layout (as a `registry:2` volume would hold them), runs `pier reindex` (timed), and starts
 * Pier again (start-up time with the big index is a figure).
 */
import { keepAliveAgent } from '../http-client.ts';
import { writeTagLinks } from '../layout-writer.ts';
import { blobOf, buildImage, randomBuffer, RegistryClient } from '../registry-client.ts';
import { processTree, residentBytes } from '../process-stats.ts';
import { inParallel, seconds, type Workload } from '../workload.ts';
import { listAll, tagName } from './listings.ts';

const BIG_REPO = 'bench/bigtags';

export const bigTagsWorkload: Workload = {
  id: 'bigtags',
  pierOnly: true,
  dedicated: true,
  dedicatedDataDir(ctx) {
    // About 3 inodes a tag (tag and current directories, the link) and a few hundred bytes.
    const { path, tmpfs } = ctx.scratchDir('bigtags', { inodes: ctx.profile.bigTagCount * 4 + 100_000, bytes: ctx.profile.bigTagCount * 4096 + 2 * 1024 ** 3 });
    ctx.log(`  big tag repository data in ${path}${tmpfs ? ' (tmpfs: creating and deleting millions of files on the disk would take longer than the run)' : ''}`);
    return path;
  },
  async setup(ctx, target) {
    const { bigTagCount, populateConcurrency, bigTagPutSeconds } = ctx.profile;
    const image = buildImage([blobOf(randomBuffer(4096))], 'bigtags');
    await target.client.pushImage(BIG_REPO, tagName(0), image);

    let next = 1;
    const deadline = performance.now() + bigTagPutSeconds * 1000;
    const started = performance.now();
    await inParallel(Array.from({ length: populateConcurrency }, (_, i) => i), populateConcurrency, async () => {
      while (performance.now() < deadline && next < bigTagCount) await target.client.putManifest(BIG_REPO, tagName(next++), image.manifest);
    });
    const put = next - 1;
    const putRate = put / seconds(started);
    ctx.log(`  pier: ${put} tags PUT in ${seconds(started).toFixed(1)} s (${putRate.toFixed(0)} tags/s); writing the other ${bigTagCount - next} to storage`);

    await target.server.stop();
    const dataDir = target.server.dataDir;
    const writeStarted = performance.now();
    const tags = function* (): Generator<string> {
      for (let i = next; i < bigTagCount; i++) yield tagName(i);
    };
    writeTagLinks(dataDir, BIG_REPO, image.manifestDigest, tags());
    const writeSeconds = seconds(writeStarted);
    ctx.log(`  wrote ${bigTagCount - next} tag links in ${writeSeconds.toFixed(1)} s; pier reindex`);
    const reindex = ctx.pierCli(['reindex', '--data', dataDir]);
    ctx.log(`  pier reindex: ${(reindex.ms / 1000).toFixed(1)} s`);

    target.server = await ctx.launch('pier', dataDir);
    target.agent.destroy();
    target.agent = keepAliveAgent(64);
    target.client = new RegistryClient(target.server.url, target.agent);
    const idle = residentBytes(processTree(target.server.pid)) / 1024 / 1024;
    ctx.log(`  pier restarted on ${bigTagCount} tags: first 200 after ${target.server.startupMs.toFixed(0)} ms, RSS ${idle.toFixed(0)} MiB`);
    return {
      figures: { 'bigtags.putRate': putRate, 'bigtags.reindex': reindex.ms / 1000, 'bigtags.startup': target.server.startupMs },
      info: { putThroughApi: put, writtenToStorage: bigTagCount - next, writeSeconds, reindexOutput: reindex.output.slice(-1000), dataDir },
    };
  },
  async run(ctx, target) {
    const { bigTagCount, bigTagPageSize } = ctx.profile;
    const started = performance.now();
    const listed = await listAll(target.server.url, `/v2/${BIG_REPO}/tags/list?n=${bigTagPageSize}`, 'tags', target.agent);
    const ms = performance.now() - started;
    const unique = new Set(listed.items);
    if (listed.items.length !== bigTagCount || unique.size !== bigTagCount || !unique.has(tagName(bigTagCount - 1))) {
      throw new Error(`GET /v2/${BIG_REPO}/tags/list?n=${bigTagPageSize} following Link: ${listed.items.length} tags (${unique.size} distinct), expected ${bigTagCount}`);
    }
    return { figures: { 'bigtags.paged': ms }, info: { pages: listed.requests } };
  },
};
