/**
 * Push of one big blob, two ways: monolithic (POST, then one PUT with the whole body) and chunked (POST,
 * PATCHes of 16 MiB with Content-Range, then a PUT with the digest). Each push is a new blob. The time runs
 * from the POST to the 201 of the PUT.
 */
import { BigBlobSource, chunksOf } from '../big-blob.ts';
import { seconds, type BenchContext, type Target, type Workload } from '../workload.ts';

export const PUSH_REPO = 'bench/push';

let source: BigBlobSource | undefined;
/** The shared prefix, made once (the first call pays for it, outside any timing). */
export function bigBlobSource(ctx: BenchContext): BigBlobSource {
  source ??= new BigBlobSource(ctx.profile.bigBlobBytes);
  return source;
}

export interface PushedBlob {
  repo: string;
  digest: string;
  size: number;
  tail: Buffer;
}

export const pushWorkload: Workload = {
  id: 'push',
  async setup(ctx) {
    bigBlobSource(ctx);
  },
  async run(ctx, target: Target) {
    const { profile } = ctx;
    const blobs = bigBlobSource(ctx);
    const mb = profile.bigBlobBytes / 1e6;

    const mono = blobs.next();
    let started = performance.now();
    await target.client.pushMonolithic(PUSH_REPO, mono.digest, mono.parts);
    const monolithic = mb / seconds(started);
    target.state.set('pushedBlob', { repo: PUSH_REPO, digest: mono.digest, size: mono.size, tail: mono.tail } satisfies PushedBlob);

    const chunkedBlob = blobs.next();
    started = performance.now();
    await target.client.pushChunked(PUSH_REPO, chunkedBlob.digest, chunksOf(chunkedBlob, profile.chunkBytes));
    const chunked = mb / seconds(started);

    return { figures: { 'push.monolithic': monolithic, 'push.chunked': chunked } };
  },
};
