/**
 * Appending to an S3 object, for upload sessions that arrive in chunks, possibly on different processes.
 *
 * S3 objects cannot grow, so an append is a multipart upload that rebuilds the object: the bytes already
 * there come first (server-side UploadPartCopy when they are at least S3's 5 MiB part minimum; read and
 * re-sent when smaller), then the new bytes in `chunksize` parts, sent as they arrive so memory stays at
 * about one part per upload. commit() completes the multipart upload, which replaces the object at once;
 * abort() aborts it and the object is as it was. A small append to a small object is a single PUT.
 *
 * All state is in the bucket: the next writer, in this process or another, starts from the object's size.
 * A multipart upload still open on the key when a writer starts was left by a writer that died before
 * committing (its bytes were never acknowledged): the session's write lock guarantees no live writer owns
 * it, so it is aborted rather than left to cost storage.
 *
 * The reference's s3-aws driver keeps an upload's bytes in an open multipart upload between requests
 * instead, and completes it only at the final PUT; Pier completes at every commit so that stat, reads and
 * moves see one plain object (docs/deviations.md).
 */
import type { AppendWriter } from '../contract.ts';
import { MIN_PART_SIZE } from './s3-options.ts';
import { copyIntoParts, type CompletedPart, type S3WriteContext } from './s3-copy.ts';
import { isNotFound } from './s3-errors.ts';

export async function openS3AppendWriter(ctx: S3WriteContext, key: string): Promise<AppendWriter> {
  const { sdk, client, bucket } = ctx;
  await abortStaleUploads(ctx, key);
  let startSize = 0;
  try {
    startSize = (await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength ?? 0;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const chunkSize = ctx.settings.chunkSize;
  /** The existing object is re-sent rather than copied when it is below the part minimum. */
  const smallPrefix = startSize > 0 && startSize < MIN_PART_SIZE;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  let closed = false;

  const readExisting = async (): Promise<Buffer> => {
    const object = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    // The session lock keeps other writers out; a different size means the object changed under us.
    if (bytes.length !== startSize) throw new Error(`S3 object ${key} changed while appending (${bytes.length} bytes, expected ${startSize})`);
    return bytes;
  };

  const take = (size: number): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    const part = all.subarray(0, size);
    const rest = all.subarray(size);
    pending = rest.length > 0 ? [rest] : [];
    pendingBytes = rest.length;
    return part;
  };

  const begin = async (): Promise<string> => {
    if (uploadId) return uploadId;
    const created = await client.send(new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...ctx.writeParams }));
    uploadId = created.UploadId!;
    if (smallPrefix) {
      const existing = await readExisting();
      pending.unshift(existing);
      pendingBytes += existing.length;
    } else if (startSize > 0) {
      parts.push(...(await copyIntoParts(ctx, key, key, uploadId, startSize)));
    }
    return uploadId;
  };

  const uploadPart = async (body: Buffer): Promise<void> => {
    const id = await begin();
    const PartNumber = parts.length + 1;
    const result = await client.send(new sdk.UploadPartCommand({ Bucket: bucket, Key: key, UploadId: id, PartNumber, Body: body, ContentLength: body.length }));
    parts.push({ PartNumber, ETag: result.ETag! });
  };

  const abortUpload = async (): Promise<void> => {
    if (uploadId) await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
  };

  return {
    startSize,
    async write(chunk: Buffer): Promise<void> {
      if (closed) throw new Error('append writer already closed');
      pending.push(chunk);
      pendingBytes += chunk.length;
      const notYetLoaded = !uploadId && smallPrefix ? startSize : 0;
      if (notYetLoaded + pendingBytes < chunkSize) return;
      await begin();
      while (pendingBytes >= chunkSize) await uploadPart(take(chunkSize));
    },
    async commit(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        if (!uploadId && pendingBytes === 0) return; // nothing appended
        if (!uploadId && (startSize === 0 || smallPrefix)) {
          const body = Buffer.concat([...(smallPrefix ? [await readExisting()] : []), ...pending]);
          await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length, ...ctx.writeParams }));
          return;
        }
        await begin();
        if (pendingBytes > 0) await uploadPart(take(pendingBytes)); // the last part may be small
        await client.send(
          new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        );
        uploadId = undefined;
      } catch (error) {
        await abortUpload();
        throw error;
      } finally {
        pending = [];
        pendingBytes = 0;
      }
    },
    async abort(): Promise<void> {
      if (closed) return;
      closed = true;
      pending = [];
      pendingBytes = 0;
      await abortUpload();
    },
  };
}

async function abortStaleUploads(ctx: S3WriteContext, key: string): Promise<void> {
  const { sdk, client, bucket } = ctx;
  const listing = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const upload of listing.Uploads ?? []) {
    if (upload.Key !== key) continue;
    await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId })).catch((error: unknown) => {
      if (!isNotFound(error)) throw error;
    });
  }
}
