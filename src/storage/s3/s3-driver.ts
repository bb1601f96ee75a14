/**
 * S3 storage driver (AWS S3 and S3-compatible stores) over `@aws-sdk/client-s3`, loaded only when configured.
 *
 * Object keys are the reference registry's (CNCF Distribution's s3-aws driver): `<rootdirectory>/<path>`,
 * with the root's leading and trailing slashes dropped, so a bucket written by `registry:2` is served as it
 * is and the other way round. Directories do not exist in S3: a path is a directory when some key starts with
 * `<path>/`, exactly as the reference decides.
 *
 * Appends (upload sessions that arrive in chunks) use multipart uploads: see s3-append-writer.ts.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { S3Client, _Object, CommonPrefix } from '@aws-sdk/client-s3';
import { checkPath, type AppendWriter, type FileInfo, type StorageDriver } from '../contract.ts';
import { createS3Client, checkS3Settings, keyPrefix, type S3Settings } from './s3-options.ts';
import { openS3AppendWriter } from './s3-append-writer.ts';
import { copyObject, type S3WriteContext } from './s3-copy.ts';
import { isNotFound } from './s3-errors.ts';
import { statByListing, type ListedObject } from '../stat-by-listing.ts';

type Sdk = typeof import('@aws-sdk/client-s3');

/** How long a redirect to a presigned URL stays valid (the reference uses 20 minutes). */
const PRESIGN_SECONDS = 20 * 60;
const DELETE_BATCH = 1000;

/**
 * Multi-object delete must carry a checksum of its body. The SDK sends a CRC32 one; S3-compatible stores
 * that predate it (Swift, older Ceph and MinIO) require Content-MD5, which AWS accepts too.
 */
function addContentMd5(request: unknown): void {
  const r = request as { headers?: Record<string, string>; body?: unknown };
  if (r.headers && (typeof r.body === 'string' || r.body instanceof Uint8Array)) r.headers['content-md5'] = createHash('md5').update(r.body).digest('base64');
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  private readonly prefix: string;
  private redirectClient: S3Client | undefined;

  private constructor(
    private readonly sdk: Sdk,
    readonly client: S3Client,
    readonly settings: S3Settings,
  ) {
    this.prefix = keyPrefix(settings.rootDirectory);
  }

  static async open(settings: S3Settings): Promise<S3Driver> {
    checkS3Settings(settings);
    const sdk = await import('@aws-sdk/client-s3');
    return new S3Driver(sdk, await createS3Client(settings), settings);
  }

  /** The object key of a storage path. */
  key(path: string): string {
    checkPath(path);
    return this.prefix ? `${this.prefix}/${path}` : path;
  }

  /** Headers every object write carries: encryption, storage class, ACL, content type (as the reference). */
  private writeParams(): S3WriteContext['writeParams'] {
    const s = this.settings;
    return {
      ContentType: 'application/octet-stream',
      ...(s.encrypt ? { ServerSideEncryption: s.keyId ? 'aws:kms' : 'AES256' } : {}),
      ...(s.encrypt && s.keyId ? { SSEKMSKeyId: s.keyId } : {}),
      ...(s.storageClass.toUpperCase() !== 'NONE' ? { StorageClass: s.storageClass.toUpperCase() as never } : {}),
      ...(s.objectAcl ? { ACL: s.objectAcl as never } : {}),
    };
  }

  private writeContext(): S3WriteContext {
    return { sdk: this.sdk, client: this.client, bucket: this.settings.bucket, settings: this.settings, writeParams: this.writeParams() };
  }

  stat(path: string): Promise<FileInfo | undefined> {
    return this.statKey(this.key(path));
  }

  /** One listing for all the paths instead of a HEAD (and a LIST for a directory) each: see stat-by-listing.ts. */
  statMany(paths: string[]): Promise<Array<FileInfo | undefined>> {
    return statByListing(
      {
        listObjects: (prefix) => this.objectPages(prefix),
        statKey: (key) => this.statKey(key),
      },
      paths.map((path) => this.key(path)),
    );
  }

  private async *objectPages(prefix: string): AsyncIterable<ListedObject[]> {
    for await (const page of this.pages(prefix)) {
      yield page.objects.map((o) => ({ key: o.Key!, size: o.Size ?? 0, modifiedAt: o.LastModified ?? new Date(0) }));
    }
  }

  private async statKey(key: string): Promise<FileInfo | undefined> {
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.settings.bucket, Key: key }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified ?? new Date(0), isDirectory: false };
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const listing = await this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: `${key}/`, MaxKeys: 1 }));
    if ((listing.Contents?.length ?? 0) > 0 || (listing.CommonPrefixes?.length ?? 0) > 0) return { size: 0, modifiedAt: new Date(0), isDirectory: true };
    return undefined;
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    try {
      const object = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path) }));
      return Buffer.from(await object.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    // A PUT replaces the object whole: readers see the old or the new object, never a mix.
    await this.client.send(
      new this.sdk.PutObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path), Body: data, ContentLength: data.length, ...this.writeParams() }),
    );
  }

  async reader(path: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    try {
      const object = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.settings.bucket, Key: this.key(path), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      return object.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  appendWriter(path: string): Promise<AppendWriter> {
    return openS3AppendWriter(this.writeContext(), this.key(path));
  }

  async list(path: string): Promise<string[]> {
    const prefix = `${this.key(path)}/`;
    const names = new Set<string>();
    for await (const page of this.pages(prefix, '/')) {
      for (const object of page.objects) names.add(object.Key!.slice(prefix.length));
      for (const common of page.prefixes) names.add(common.Prefix!.slice(prefix.length).replace(/\/$/, ''));
    }
    names.delete('');
    return [...names].sort();
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.key(from);
    const target = this.key(to);
    const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.settings.bucket, Key: source }));
    await copyObject(this.writeContext(), source, target, head.ContentLength ?? 0);
    await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: source }));
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    await this.abortMultipartUploads(key);
    const keys = [key];
    for await (const page of this.pages(`${key}/`)) for (const object of page.objects) keys.push(object.Key!);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      if (batch.length === 1) {
        await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: batch[0]! }));
        continue;
      }
      const command = new this.sdk.DeleteObjectsCommand({ Bucket: this.settings.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } });
      command.middlewareStack.add((next) => async (args) => (addContentMd5(args.request), next(args)), { step: 'build', name: 'pierContentMd5' });
      const result = await this.client.send(command);
      const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 DeleteObjects failed for ${failed.length} keys: ${failed[0]!.Code} ${failed[0]!.Message ?? ''}`);
    }
  }

  /**
   * Aborts multipart uploads open on `key` or under it: an upload session that is purged or completed must
   * not leave a dead writer's parts behind to be billed.
   */
  private async abortMultipartUploads(key: string): Promise<void> {
    const listing = await this.client.send(new this.sdk.ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: key }));
    const open = (listing.Uploads ?? []).filter((u) => u.Key === key || u.Key?.startsWith(`${key}/`));
    await Promise.all(
      open.map((u) =>
        this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: u.Key, UploadId: u.UploadId })).catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        }),
      ),
    );
  }

  /**
   * A presigned URL for a GET or HEAD of the object at `path`, for redirecting blob downloads; signed for
   * `redirectendpoint` when set (a public address for a store the registry reaches privately).
   */
  async presignedUrl(path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<string> {
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    if (this.settings.redirectEndpoint && !this.redirectClient) this.redirectClient = await createS3Client(this.settings, this.settings.redirectEndpoint);
    const input = { Bucket: this.settings.bucket, Key: this.key(path) };
    const command = method === 'GET' ? new this.sdk.GetObjectCommand(input) : new this.sdk.HeadObjectCommand(input);
    return getSignedUrl(this.redirectClient ?? this.client, command, { expiresIn: PRESIGN_SECONDS });
  }

  close(): void {
    this.client.destroy();
    this.redirectClient?.destroy();
  }

  private async *pages(prefix: string, delimiter?: string): AsyncIterable<{ objects: _Object[]; prefixes: CommonPrefix[] }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListObjectsV2Command({
          Bucket: this.settings.bucket,
          Prefix: prefix,
          MaxKeys: this.settings.listPageSize ?? 1000,
          ...(delimiter ? { Delimiter: delimiter } : {}),
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      yield { objects: page.Contents ?? [], prefixes: page.CommonPrefixes ?? [] };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
}
