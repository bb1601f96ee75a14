/**
 * Pull of the big blob the push workload left: one stream, then N parallel streams each fetching one
 * N-th of it with a Range request (a segmented download; aggregate MB/s). Setup checks the content
 * once: the whole digest when the blob is small (quick mode), else its length and its unique last MiB
 * through a Range request.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { keepAliveAgent, request } from '../http-client.ts';
import { seconds, type BenchContext, type Target, type Workload } from '../workload.ts';
import { bigBlobSource, PUSH_REPO, type PushedBlob } from './push.ts';

const MiB = 1024 * 1024;

function hashOverHttp(url: string, agent: http.Agent): Promise<{ digest: string; bytes: number; status: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        const hash = createHash('sha256');
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          hash.update(chunk);
        });
        res.once('end', () => resolve({ digest: `sha256:${hash.digest('hex')}`, bytes, status: res.statusCode ?? 0 }));
        res.once('error', reject);
      })
      .once('error', reject);
  });
}

async function verify(ctx: BenchContext, target: Target, blob: PushedBlob): Promise<void> {
  const url = `${target.server.url}/v2/${blob.repo}/blobs/${blob.digest}`;
  if (blob.size <= 256 * MiB) {
    const got = await hashOverHttp(url, target.agent);
    if (got.status !== 200 || got.bytes !== blob.size || got.digest !== blob.digest) {
      throw new Error(`GET ${url}: status ${got.status}, ${got.bytes} bytes with digest ${got.digest}; pushed ${blob.size} bytes with ${blob.digest}`);
    }
    return;
  }
  const head = await request(target.server.url, url, { method: 'HEAD', agent: target.agent, expect: 200 });
  if (Number(head.headers['content-length']) !== blob.size) throw new Error(`HEAD ${url}: Content-Length ${head.headers['content-length']}, pushed ${blob.size}`);
  const tail = await request(target.server.url, url, { agent: target.agent, headers: { Range: `bytes=${blob.size - MiB}-` }, expect: 206 });
  if (!tail.body.equals(blob.tail)) throw new Error(`GET ${url} with Range of the last MiB: the bytes differ from what was pushed`);
  ctx.log(`  ${target.kind}: blob length and last MiB verified`);
}

export const pullWorkload: Workload = {
  id: 'pull',
  async setup(ctx, target) {
    let blob = target.state.get('pushedBlob') as PushedBlob | undefined;
    if (!blob) {
      const fresh = bigBlobSource(ctx).next();
      await target.client.pushMonolithic(PUSH_REPO, fresh.digest, fresh.parts);
      blob = { repo: PUSH_REPO, digest: fresh.digest, size: fresh.size, tail: fresh.tail };
      target.state.set('pushedBlob', blob);
    }
    await verify(ctx, target, blob);
  },
  async run(ctx, target) {
    const blob = target.state.get('pushedBlob') as PushedBlob;
    const mb = blob.size / 1e6;
    const streams = ctx.profile.pullStreams;

    let started = performance.now();
    await target.client.getBlob(blob.repo, blob.digest, blob.size);
    const single = mb / seconds(started);

    // The same blob in `streams` byte ranges at once, as segmented downloaders do.
    const agent = keepAliveAgent(streams);
    try {
      const part = Math.ceil(blob.size / streams);
      const url = `${target.server.url}/v2/${blob.repo}/blobs/${blob.digest}`;
      started = performance.now();
      const replies = await Promise.all(
        Array.from({ length: streams }, (_, i) => {
          const first = i * part;
          const last = Math.min(blob.size, first + part) - 1;
          return request(url, url, { agent, headers: { Range: `bytes=${first}-${last}` }, collect: false, expect: 206 }).then((reply) => {
            if (reply.bytes !== last - first + 1) throw new Error(`GET ${url} Range bytes=${first}-${last}: ${reply.bytes} bytes`);
            return reply;
          });
        }),
      );
      const parallel = replies.reduce((sum, r) => sum + r.bytes, 0) / 1e6 / seconds(started);
      return { figures: { 'pull.single': single, 'pull.parallel': parallel } };
    } finally {
      agent.destroy();
    }
  },
};
