/**
 * Azure Blob Storage driver over `@azure/storage-blob`, loaded only when configured.
 *
 * Blob names are the reference registry's: `<rootdirectory>/<path>` with the root's leading and trailing
 * slashes dropped. Directories are name prefixes, as in S3.
 *
 * Appends use block blobs: a writer stages new blocks (uncommitted, invisible) and commit() commits the
 * blob's block list plus the new blocks in one call, so readers see the old or the new blob, abort() leaves
 * the blob as it was, and the next writer — in any process — starts from the committed block list. The
 * reference's azure driver appends to append blobs instead, which cannot be rolled back; Pier reads both
 * kinds, and an append to an append blob left by the reference is continued with append blocks.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ContainerClient, BlockBlobClient } from '@azure/storage-blob';
import { statByListing, type ListedObject } from '../stat-by-listing.ts';
import { checkPath, type AppendWriter, type FileInfo, type StorageDriver } from '../contract.ts';
import { mapConcurrently } from '../../registry/map-concurrently.ts';

export interface AzureSettings {
  container: string;
  /** Blob name prefix: the reference's `rootdirectory`. */
  rootDirectory: string;
  accountName?: string;
  accountKey?: string;
  /** Endpoint suffix (`core.windows.net`, `core.chinacloudapi.cn`, `core.usgovcloudapi.net`). */
  realm: string;
  /** Pier-only: the blob service URL (Azurite: http://127.0.0.1:10000/devstoreaccount1). */
  serviceUrl?: string;
  /** Pier-only: a storage connection string (includes endpoint and key). */
  connectionString?: string;
}

/** Largest block staged at once: memory per upload stays about this size. */
const BLOCK_SIZE = 8 * 1024 * 1024;
const PRESIGN_SECONDS = 20 * 60;

function isNotFound(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: string };
  return e?.statusCode === 404 && e.code !== 'ContainerNotFound';
}

export class AzureDriver implements StorageDriver {
  readonly name = 'azure';
  private readonly prefix: string;

  private constructor(
    private readonly sdk: typeof import('@azure/storage-blob'),
    readonly container: ContainerClient,
    settings: AzureSettings,
  ) {
    this.prefix = settings.rootDirectory.replace(/\/+$/, '').replace(/^\/+/, '');
  }

  static async open(settings: AzureSettings): Promise<AzureDriver> {
    const sdk = await import('@azure/storage-blob');
    let service: InstanceType<typeof sdk.BlobServiceClient>;
    if (settings.connectionString) {
      service = sdk.BlobServiceClient.fromConnectionString(settings.connectionString);
    } else {
      if (!settings.accountName || !settings.accountKey) throw new Error('storage.azure needs accountname and accountkey, or connectionstring');
      const url = settings.serviceUrl ?? `https://${settings.accountName}.blob.${settings.realm}`;
      service = new sdk.BlobServiceClient(url, new sdk.StorageSharedKeyCredential(settings.accountName, settings.accountKey));
    }
    const container = service.getContainerClient(settings.container);
    await container.createIfNotExists(); // as the reference does at start
    return new AzureDriver(sdk, container, settings);
  }

  key(path: string): string {
    checkPath(path);
    return this.prefix ? `${this.prefix}/${path}` : path;
  }

  private blob(path: string): BlockBlobClient {
    return this.container.getBlockBlobClient(this.key(path));
  }

  stat(path: string): Promise<FileInfo | undefined> {
    return this.statKey(this.key(path));
  }

  /** One listing for all the paths instead of a request or two each: see stat-by-listing.ts. */
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
    for await (const page of this.container.listBlobsFlat({ prefix }).byPage({ maxPageSize: 1000 })) {
      yield page.segment.blobItems.map((b) => ({ key: b.name, size: b.properties.contentLength ?? 0, modifiedAt: b.properties.lastModified ?? new Date(0) }));
    }
  }

  private async statKey(key: string): Promise<FileInfo | undefined> {
    try {
      const props = await this.container.getBlockBlobClient(key).getProperties();
      return { size: props.contentLength ?? 0, modifiedAt: props.lastModified ?? new Date(0), isDirectory: false };
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const page = await this.container.listBlobsFlat({ prefix: `${key}/` }).byPage({ maxPageSize: 1 }).next();
    return page.value?.segment.blobItems.length ? { size: 0, modifiedAt: new Date(0), isDirectory: true } : undefined;
  }

  async getContent(path: string): Promise<Buffer | undefined> {
    try {
      return await this.blob(path).downloadToBuffer();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async putContent(path: string, data: Uint8Array): Promise<void> {
    const blob = this.blob(path);
    try {
      await blob.upload(data, data.length, { blobHTTPHeaders: { blobContentType: 'application/octet-stream' } });
    } catch (error) {
      // An append blob (the reference's upload data) cannot be overwritten by a block blob: replace it.
      if ((error as { code?: string }).code !== 'InvalidBlobType') throw error;
      await blob.deleteIfExists();
      await blob.upload(data, data.length, { blobHTTPHeaders: { blobContentType: 'application/octet-stream' } });
    }
  }

  async reader(path: string, range?: { start: number; end: number }): Promise<Readable | undefined> {
    try {
      const response = range ? await this.blob(path).download(range.start, range.end - range.start + 1) : await this.blob(path).download();
      return response.readableStreamBody as Readable;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async appendWriter(path: string): Promise<AppendWriter> {
    const blob = this.blob(path);
    let startSize = 0;
    let blobType: string | undefined;
    try {
      const props = await blob.getProperties();
      startSize = props.contentLength ?? 0;
      blobType = props.blobType;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (blobType === 'AppendBlob') return appendBlobWriter(this.container.getAppendBlobClient(this.key(path)), startSize);
    const committed = blobType ? (await blob.getBlockList('committed')).committedBlocks ?? [] : [];
    // A blob written whole (one Put Blob) has no block list: its bytes become the first block.
    const base: string[] = committed.map((b) => b.name);
    if (startSize > 0 && base.length === 0) {
      const id = blockId();
      await blob.stageBlockFromURL(id, await this.readUrl(blob), 0, startSize);
      base.push(id);
    }
    const staged: string[] = [];
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let closed = false;
    const stage = async (data: Buffer): Promise<void> => {
      const id = blockId();
      await blob.stageBlock(id, data, data.length);
      staged.push(id);
    };
    const flush = async (all: boolean): Promise<void> => {
      while (pendingBytes >= BLOCK_SIZE || (all && pendingBytes > 0)) {
        const joined = Buffer.concat(pending, pendingBytes);
        const size = Math.min(BLOCK_SIZE, joined.length);
        pending = size < joined.length ? [joined.subarray(size)] : [];
        pendingBytes = joined.length - size;
        await stage(joined.subarray(0, size));
      }
    };
    return {
      startSize,
      async write(chunk: Buffer): Promise<void> {
        if (closed) throw new Error('append writer already closed');
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes >= BLOCK_SIZE) await flush(false);
      },
      async commit(): Promise<void> {
        if (closed) return;
        closed = true;
        await flush(true);
        if (staged.length === 0) return;
        await blob.commitBlockList([...base, ...staged], { blobHTTPHeaders: { blobContentType: 'application/octet-stream' } });
      },
      async abort(): Promise<void> {
        // Uncommitted blocks are invisible and Azure discards them after a week.
        closed = true;
        pending = [];
        pendingBytes = 0;
      },
    };
  }

  async list(path: string): Promise<string[]> {
    const prefix = `${this.key(path)}/`;
    const names = new Set<string>();
    for await (const item of this.container.listBlobsByHierarchy('/', { prefix })) {
      names.add(item.name.slice(prefix.length).replace(/\/$/, ''));
    }
    names.delete('');
    return [...names].sort();
  }

  async move(from: string, to: string): Promise<void> {
    const source = this.blob(from);
    if (!(await source.exists())) throw new Error(`cannot move ${from}: no such blob`);
    const poller = await this.blob(to).beginCopyFromURL(source.url);
    await poller.pollUntilDone();
    await source.deleteIfExists();
  }

  async delete(path: string): Promise<void> {
    const key = this.key(path);
    const names = [key];
    for await (const item of this.container.listBlobsFlat({ prefix: `${key}/` })) names.push(item.name);
    await mapConcurrently(names, (name) => this.container.getBlobClient(name).deleteIfExists(), 16);
  }

  /** A SAS URL for a GET or HEAD of the blob, for redirecting blob downloads (shared-key credentials only). */
  presignedUrl(path: string): Promise<string> {
    return this.readUrl(this.blob(path));
  }

  private readUrl(blob: BlockBlobClient): Promise<string> {
    return blob.generateSasUrl({ permissions: this.sdk.BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + PRESIGN_SECONDS * 1000) });
  }

  close(): void {
    // HTTP connections are pooled by the SDK's default agent and close with the process.
  }
}

/** Block IDs of one blob must all have the same length: 32 random bytes, base64. */
function blockId(): string {
  return randomBytes(32).toString('base64');
}

/**
 * Continues an append blob (the reference's representation of upload data). Appended blocks cannot be
 * taken back, so the bytes are held until commit (an abort drops them); only a chunk over 64 MiB is sent
 * early, and an abort after that cannot undo it.
 */
const APPEND_HOLD_LIMIT = 64 * 1024 * 1024;
function appendBlobWriter(blob: import('@azure/storage-blob').AppendBlobClient, startSize: number): AppendWriter {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    const data = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    for (let i = 0; i < data.length; i += 4 * 1024 * 1024) {
      const block = data.subarray(i, i + 4 * 1024 * 1024);
      await blob.appendBlock(block, block.length);
    }
  };
  return {
    startSize,
    async write(chunk: Buffer): Promise<void> {
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= APPEND_HOLD_LIMIT) await flush();
    },
    commit: flush,
    async abort(): Promise<void> {
      pending = [];
      pendingBytes = 0;
    },
  };
}
