/**
 * Pull storm: many clients at once, each pulling the same multi-layer image as a client would (manifest by
 * tag, config, then its layers a few at a time), each over its own keep-alive connections. Wall time from
 * the first request to the last byte, and aggregate MB/s.
 */
import { keepAliveAgent } from '../http-client.ts';
import { blobOf, buildImage, randomBuffer, RegistryClient, sha256, type Image } from '../registry-client.ts';
import { inParallel, seconds, type BenchContext, type Workload } from '../workload.ts';

export const STORM_REPO = 'bench/storm';
const STORM_TAG = 'v1';

let image: Image | undefined;
function stormImage(ctx: BenchContext): Image {
  const { stormLayers, stormLayerBytes } = ctx.profile;
  image ??= buildImage(Array.from({ length: stormLayers }, () => blobOf(randomBuffer(stormLayerBytes))), 'storm');
  return image;
}

/** One client's pull: manifest, config, layers; returns the bytes received. */
async function pullImage(client: RegistryClient, concurrency: number, verify: boolean): Promise<number> {
  const manifestReply = await client.getManifest(STORM_REPO, STORM_TAG);
  const manifest = JSON.parse(manifestReply.body.toString('utf8')) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> };
  let bytes = manifestReply.bytes;
  const config = await client.getBlob(STORM_REPO, manifest.config.digest, manifest.config.size, true);
  bytes += config.bytes;
  await inParallel(manifest.layers, concurrency, async (layer) => {
    const reply = await client.getBlob(STORM_REPO, layer.digest, layer.size, verify);
    if (verify && sha256(reply.body) !== layer.digest) throw new Error(`GET /v2/${STORM_REPO}/blobs/${layer.digest}: content has digest ${sha256(reply.body)}`);
    bytes += reply.bytes;
  });
  return bytes;
}

export const stormWorkload: Workload = {
  id: 'storm',
  async setup(ctx, target) {
    const img = stormImage(ctx);
    await target.client.pushImage(STORM_REPO, STORM_TAG, img);
    await pullImage(target.client, ctx.profile.stormLayerConcurrency, true); // once, checking every digest
  },
  async run(ctx, target) {
    const { stormClients, stormLayerConcurrency } = ctx.profile;
    const agents = Array.from({ length: stormClients }, () => keepAliveAgent(stormLayerConcurrency));
    try {
      const started = performance.now();
      const bytes = await Promise.all(agents.map((agent) => pullImage(new RegistryClient(target.server.url, agent), stormLayerConcurrency, false)));
      const wall = seconds(started);
      const total = bytes.reduce((sum, b) => sum + b, 0);
      return { figures: { 'storm.wall': wall, 'storm.throughput': total / 1e6 / wall }, info: { bytes: total } };
    } finally {
      for (const agent of agents) agent.destroy();
    }
  },
};
