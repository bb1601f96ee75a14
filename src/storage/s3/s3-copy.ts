/**
 * Server-side copies: one CopyObject up to `multipartcopythresholdsize`, above it a multipart upload whose
 * parts are UploadPartCopy requests run `multipartcopymaxconcurrency` at a time (the reference's scheme: S3
 * copies at most 5 GiB in one request, and parallel part copies are faster for large layers).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { MAX_PART_SIZE, type S3Settings } from './s3-options.ts';
import { mapConcurrently } from '../../registry/map-concurrently.ts';

export interface S3WriteContext {
  sdk: typeof import('@aws-sdk/client-s3');
  client: S3Client;
  bucket: string;
  settings: S3Settings;
  /** Content type, encryption, storage class, ACL: sent with every object created. */
  writeParams: Record<string, unknown>;
}

export interface CompletedPart {
  PartNumber: number;
  ETag: string;
}

/**
 * Byte ranges splitting `size` into parts of at least `chunk` bytes (the last absorbs the remainder, so no
 * part but a lone one is below S3's 5 MiB minimum) and at most 5 GiB.
 */
export function copyRanges(size: number, chunk: number): Array<{ start: number; end: number }> {
  const count = Math.max(1, Math.floor(size / chunk), Math.ceil(size / MAX_PART_SIZE));
  const partSize = Math.ceil(size / count);
  const ranges: Array<{ start: number; end: number }> = [];
  for (let start = 0; start < size; start += partSize) ranges.push({ start, end: Math.min(size, start + partSize) - 1 });
  return ranges;
}

/** Copies `size` bytes of `source` into an open multipart upload as parts `firstPart`, `firstPart + 1`, … */
export async function copyIntoParts(ctx: S3WriteContext, source: string, target: string, uploadId: string, size: number, firstPart = 1): Promise<CompletedPart[]> {
  const ranges = copyRanges(size, ctx.settings.multipartCopyChunkSize);
  const numbered = ranges.map((range, i) => ({ ...range, part: firstPart + i }));
  return mapConcurrently(numbered, async ({ start, end, part }) => {
    const result = await ctx.client.send(
      new ctx.sdk.UploadPartCopyCommand({
        Bucket: ctx.bucket,
        Key: target,
        UploadId: uploadId,
        PartNumber: part,
        CopySource: copySource(ctx.bucket, source),
        CopySourceRange: `bytes=${start}-${end}`,
      }),
    );
    return { PartNumber: part, ETag: result.CopyPartResult!.ETag! };
  }, ctx.settings.multipartCopyMaxConcurrency);
}

export async function copyObject(ctx: S3WriteContext, source: string, target: string, size: number): Promise<void> {
  if (size <= ctx.settings.multipartCopyThresholdSize) {
    await ctx.client.send(new ctx.sdk.CopyObjectCommand({ Bucket: ctx.bucket, Key: target, CopySource: copySource(ctx.bucket, source), ...ctx.writeParams }));
    return;
  }
  const { UploadId } = await ctx.client.send(new ctx.sdk.CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: target, ...ctx.writeParams }));
  try {
    const parts = await copyIntoParts(ctx, source, target, UploadId!, size);
    await ctx.client.send(new ctx.sdk.CompleteMultipartUploadCommand({ Bucket: ctx.bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (error) {
    await ctx.client.send(new ctx.sdk.AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: target, UploadId })).catch(() => undefined);
    throw error;
  }
}

/** The x-amz-copy-source value: bucket and key, each segment URL-encoded. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
