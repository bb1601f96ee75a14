/**
 * Many small images, a few at a time, as CI pipelines push them: per image a unique layer and config
 * (HEAD, POST, PUT each) and the manifest by tag, each image in a repository of its own (these
 * repositories also fill most of the catalog that the listings workload lists).
 */
import { blobOf, buildImage, randomBuffer, type Image } from '../registry-client.ts';
import { inParallel, seconds, type Workload } from '../workload.ts';

export const smallImagesWorkload: Workload = {
  id: 'small',
  async run(ctx, target, run) {
    const { smallImages, smallConcurrency, smallLayerBytes } = ctx.profile;
    const images: Image[] = Array.from({ length: smallImages }, (_, i) => buildImage([blobOf(randomBuffer(smallLayerBytes))], `small-${run}-${i}`));
    const started = performance.now();
    await inParallel(images, smallConcurrency, (image, i) => target.client.pushImage(`bench/small/r${run}/i${String(i).padStart(5, '0')}`, 'latest', image));
    return { figures: { 'small.rate': smallImages / seconds(started) } };
  },
};
