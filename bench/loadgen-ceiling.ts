/**
 * The load generator's own ceiling: the same kinds of requests as the workloads, sent to the trivial
 * node:http server (another process, answering from memory). A registry cannot look faster than this.
 */
import { keepAliveAgent, request } from './http-client.ts';
import { closedLoop } from './load-generator.ts';
import { MANIFEST_ACCEPT } from './registry-client.ts';
import type { BigBlobSource } from './big-blob.ts';
import type { Profile } from './profiles.ts';
import { seconds } from './workload.ts';

async function transferCeiling(url: string, profile: Profile, blobs: BigBlobSource, ceiling: Record<string, number>): Promise<void> {
  const agent = keepAliveAgent(profile.pullStreams);
  const size = profile.bigBlobBytes;
  try {
    const blob = blobs.next();
    let started = performance.now();
    await request(url, '/v2/trivial/blobs/uploads/', { method: 'POST', agent, expect: 202 });
    await request(url, `/v2/trivial/blobs/uploads/0?digest=${blob.digest}`, { method: 'PUT', agent, body: blob.parts, expect: 201 });
    ceiling['ceiling.upload'] = size / 1e6 / seconds(started);

    started = performance.now();
    await request(url, `/blob/${size}`, { agent, collect: false, expect: 200 });
    ceiling['ceiling.download1'] = size / 1e6 / seconds(started);

    const part = Math.ceil(size / profile.pullStreams);
    started = performance.now();
    await Promise.all(Array.from({ length: profile.pullStreams }, () => request(url, `/blob/${part}`, { agent, collect: false, expect: 200 })));
    ceiling['ceiling.downloadN'] = (profile.pullStreams * part) / 1e6 / seconds(started);
  } finally {
    agent.destroy();
  }
}

/** Every ceiling; without `blobs`, only the request rates (the transfers are steadier and cost more time). */
export async function measureCeiling(url: string, profile: Profile, blobs?: BigBlobSource): Promise<Record<string, number>> {
  const ceiling: Record<string, number> = {};
  if (blobs) await transferCeiling(url, profile, blobs, ceiling);
  for (const connections of profile.manifestLevels) {
    for (const method of ['HEAD', 'GET'] as const) {
      const result = await closedLoop({
        url: `${url}/v2/trivial/manifests/latest`,
        method,
        headers: { Accept: MANIFEST_ACCEPT },
        connections,
        durationMs: Math.min(profile.manifestDurationMs, 1000),
        warmupMs: profile.manifestWarmupMs,
        expectStatus: 200,
      });
      ceiling[`ceiling.manifest.${method.toLowerCase()}.c${connections}`] = result.requestsPerSecond;
    }
  }
  return ceiling;
}
