/**
 * Manifest HEAD and GET by tag at each connection level, for a fixed time each (closed loop, keep-alive),
 * with every manifest media type in Accept. Requests/s, p50 and p99 latency.
 */
import { closedLoop } from '../load-generator.ts';
import { blobOf, buildImage, MANIFEST_ACCEPT, randomBuffer } from '../registry-client.ts';
import type { RunOutput, Workload } from '../workload.ts';

export const MANIFEST_REPO = 'bench/manifests';
export const MANIFEST_TAG = 'latest';

export const manifestsWorkload: Workload = {
  id: 'manifests',
  async setup(_ctx, target) {
    const image = buildImage([blobOf(randomBuffer(4096))], 'manifests');
    await target.client.pushImage(MANIFEST_REPO, MANIFEST_TAG, image);
    const got = await target.client.getManifest(MANIFEST_REPO, MANIFEST_TAG);
    if (!got.body.equals(image.manifest)) throw new Error(`GET /v2/${MANIFEST_REPO}/manifests/${MANIFEST_TAG}: the body differs from the manifest pushed`);
  },
  async run(ctx, target) {
    const { profile } = ctx;
    const out: RunOutput = { figures: {}, problems: [], info: {} };
    for (const connections of profile.manifestLevels) {
      for (const method of ['HEAD', 'GET'] as const) {
        const result = await closedLoop({
          url: `${target.server.url}/v2/${MANIFEST_REPO}/manifests/${MANIFEST_TAG}`,
          method,
          headers: { Accept: MANIFEST_ACCEPT },
          connections,
          durationMs: profile.manifestDurationMs,
          warmupMs: profile.manifestWarmupMs,
          expectStatus: 200,
        });
        const base = `manifest.${method.toLowerCase()}.c${connections}`;
        out.figures[`${base}.rps`] = result.requestsPerSecond;
        out.figures[`${base}.p50`] = result.p50Ms;
        out.figures[`${base}.p99`] = result.p99Ms;
        out.info![base] = { completed: result.completed, errors: result.errors };
        if (result.errors > 0) out.problems!.push(`${base}: ${result.errors} failed requests; first: ${result.firstError}`);
      }
    }
    return out;
  },
};
