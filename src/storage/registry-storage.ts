/**
 * RegistryStorage over any StorageDriver: the reference registry's layout (see layout.ts) and nothing else.
 * Link files hold the digest string, as the reference registry writes them.
 */
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { StorageDriver } from './contract.ts';
import * as layout from './layout.ts';
import type { RegistryStorage, UploadAppender } from '../registry/ports.ts';
import { parseDigest, isDigestAlgorithm, type Digest } from '../registry/model/digest.ts';
import { isRepositoryName } from '../registry/model/repository-name.ts';
import { isTag } from '../registry/model/tag.ts';
import { mapConcurrently } from '../registry/map-concurrently.ts';

export interface DriverStorageOptions {
  /** Signs a direct URL to a stored file: blob downloads are then redirected to the store. */
  presign?: (path: string, method: 'GET' | 'HEAD') => Promise<string>;
}

/** The one file an upload session directory holds besides its data (layout.uploadStartedAtPath). */
const STARTED_AT = 'startedat';

export class DriverRegistryStorage implements RegistryStorage {
  constructor(
    readonly driver: StorageDriver,
    private readonly options: DriverStorageOptions = {},
  ) {}

  async blobUrl(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined> {
    return this.options.presign?.(layout.blobDataPath(digest), method);
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    const info = await this.driver.stat(layout.blobDataPath(digest));
    return info && !info.isDirectory ? info.size : undefined;
  }

  readBlob(digest: Digest): Promise<Buffer | undefined> {
    return this.driver.getContent(layout.blobDataPath(digest));
  }

  openBlob(digest: Digest, range?: { start: number; end: number }): Promise<Readable | undefined> {
    return this.driver.reader(layout.blobDataPath(digest), range);
  }

  async putBlob(digest: Digest, data: Buffer): Promise<void> {
    const existing = await this.driver.stat(layout.blobDataPath(digest));
    if (existing && existing.size === data.length) return; // content-addressed: already there
    await this.driver.putContent(layout.blobDataPath(digest), data);
  }

  linkLayer(repository: string, digest: Digest): Promise<void> {
    return this.writeLink(layout.layerLinkPath(repository, digest), digest);
  }

  unlinkLayer(repository: string, digest: Digest): Promise<void> {
    return this.driver.delete(layout.layerLinkDirectory(repository, digest));
  }

  linkRevision(repository: string, digest: Digest): Promise<void> {
    return this.writeLink(layout.revisionLinkPath(repository, digest), digest);
  }

  unlinkRevision(repository: string, digest: Digest): Promise<void> {
    return this.driver.delete(layout.revisionDirectory(repository, digest));
  }

  async linkManifest(repository: string, digest: Digest, tag?: string): Promise<void> {
    await Promise.all([
      this.linkRevision(repository, digest),
      tag !== undefined ? this.writeLink(layout.tagIndexLinkPath(repository, tag, digest), digest) : undefined,
    ]);
    if (tag !== undefined) await this.writeLink(layout.tagCurrentLinkPath(repository, tag), digest);
  }

  /** The tag's index link first, its current link last: a tag never points where its history does not. */
  async writeTag(repository: string, tag: string, digest: Digest): Promise<void> {
    await this.writeLink(layout.tagIndexLinkPath(repository, tag, digest), digest);
    await this.writeLink(layout.tagCurrentLinkPath(repository, tag), digest);
  }

  removeTag(repository: string, tag: string): Promise<void> {
    return this.driver.delete(layout.tagPath(repository, tag));
  }

  async createUpload(repository: string, id: string, startedAt: Date): Promise<void> {
    // Bookkeeping only: a session lost to a power failure is simply started again by the client.
    const started = Buffer.from(startedAt.toISOString());
    if (await this.driver.reviveDirectory?.(layout.uploadDirectory(repository, id), STARTED_AT, started)) return;
    await this.driver.putContent(layout.uploadStartedAtPath(repository, id), started, { durable: false });
  }

  async hasUpload(repository: string, id: string): Promise<boolean> {
    const started = await this.driver.stat(layout.uploadStartedAtPath(repository, id));
    return started !== undefined && !started.isDirectory;
  }

  async uploadDataSize(repository: string, id: string): Promise<number> {
    return (await this.driver.stat(layout.uploadDataPath(repository, id)))?.size ?? 0;
  }

  async uploadStatus(repository: string, id: string): Promise<{ size: number; startedAt: Date } | undefined> {
    const started = await this.driver.getContent(layout.uploadStartedAtPath(repository, id));
    if (!started) return undefined;
    const data = await this.driver.stat(layout.uploadDataPath(repository, id));
    const startedAt = new Date(started.toString('utf8').trim());
    return { size: data?.size ?? 0, startedAt: Number.isNaN(startedAt.getTime()) ? new Date(0) : startedAt };
  }

  appendToUpload(repository: string, id: string): Promise<UploadAppender> {
    return this.driver.appendWriter(layout.uploadDataPath(repository, id));
  }

  async readUpload(repository: string, id: string): Promise<Readable | undefined> {
    return this.driver.reader(layout.uploadDataPath(repository, id));
  }

  async flushBlob(digest: Digest): Promise<void> {
    await this.driver.flush?.(layout.blobDataPath(digest));
  }

  async commitUpload(repository: string, id: string, digest: Digest): Promise<void> {
    const source = layout.uploadDataPath(repository, id);
    try {
      // The caller found no blob there; one that appeared since holds the same bytes, so replacing it is harmless.
      await this.driver.move(source, layout.blobDataPath(digest));
    } catch (error) {
      if (await this.driver.stat(source)) throw error;
      await this.driver.putContent(layout.blobDataPath(digest), Buffer.alloc(0)); // an empty upload never wrote a file
    }
    // What is left is the session's start time: a driver may keep the directory for the next session.
    const session = layout.uploadDirectory(repository, id);
    if (!(await this.driver.retireDirectory?.(session, STARTED_AT))) await this.driver.delete(session);
  }

  deleteUpload(repository: string, id: string): Promise<void> {
    return this.driver.delete(layout.uploadDirectory(repository, id));
  }

  async *listBlobs(): AsyncIterable<{ digest: Digest; size: number; modifiedAt: Date }> {
    for (const algorithm of ['sha256', 'sha512']) {
      const base = `${layout.ROOT}/blobs/${algorithm}`;
      for (const prefix of await this.driver.list(base)) {
        const digests = (await this.driver.list(`${base}/${prefix}`)).map((hex) => safeDigest(`${algorithm}:${hex}`)).filter((d) => d !== undefined && d.hex.slice(0, 2) === prefix) as Digest[];
        const infos = await this.statMany(digests.map((digest) => layout.blobDataPath(digest)));
        for (const [i, digest] of digests.entries()) {
          const info = infos[i];
          if (info && !info.isDirectory) yield { digest, size: info.size, modifiedAt: info.modifiedAt };
        }
      }
    }
  }

  /**
   * Deletes only the blob's data file: one atomic step. Removing its directory recursively could take
   * with it a copy that an upload moves in at that very moment (the collector's mark is still set then,
   * and the upload is waiting to link the bytes it just moved). The empty directory stays.
   */
  deleteBlob(digest: Digest): Promise<void> {
    return this.driver.delete(layout.blobDataPath(digest));
  }

  quarantineBlob(digest: Digest): Promise<void> {
    return this.driver.move(layout.blobDataPath(digest), layout.quarantinePath(digest));
  }

  async listUploads(repository: string): Promise<Array<{ id: string; startedAt: Date }>> {
    const uploads: Array<{ id: string; startedAt: Date }> = [];
    for (const id of await this.driver.list(layout.uploadsPath(repository))) {
      if (!/^[0-9a-zA-Z-]{1,64}$/.test(id)) continue;
      const status = await this.uploadStatus(repository, id);
      const info = status ? undefined : await this.driver.stat(layout.uploadDirectory(repository, id));
      uploads.push({ id, startedAt: status?.startedAt ?? info?.modifiedAt ?? new Date(0) });
    }
    return uploads;
  }

  /**
   * Walks the repositories tree one level at a time, listing the directories of a level concurrently: on an
   * object store every listing is a round trip, so a depth-first walk would pay them one after another.
   */
  async *listRepositories(): AsyncIterable<string> {
    let level = [''];
    while (level.length > 0) {
      const listed = await mapConcurrently(level, async (prefix) => ({
        prefix,
        entries: await this.driver.list(prefix ? `${layout.REPOSITORIES}/${prefix}` : layout.REPOSITORIES),
      }));
      const next: string[] = [];
      for (const { prefix, entries } of listed) {
        if (prefix && (entries.includes('_manifests') || entries.includes('_layers') || entries.includes('_uploads')) && isRepositoryName(prefix)) yield prefix;
        for (const entry of entries) {
          if (entry.startsWith('_')) continue;
          const name = prefix ? `${prefix}/${entry}` : entry;
          if (name.length <= 255) next.push(name);
        }
      }
      level = next;
    }
  }

  async listTags(repository: string): Promise<Array<{ tag: string; digest: Digest }>> {
    const names = (await this.driver.list(layout.tagsPath(repository))).filter(isTag);
    const links = await mapConcurrently(names, (tag) => this.readLink(layout.tagCurrentLinkPath(repository, tag)));
    return names.flatMap((tag, i) => (links[i] ? [{ tag, digest: links[i] }] : []));
  }

  listRevisions(repository: string): Promise<Digest[]> {
    return this.listLinked((alg) => layout.revisionsPath(repository, alg));
  }

  listLayers(repository: string): Promise<Digest[]> {
    return this.listLinked((alg) => layout.layersPath(repository, alg));
  }

  async readTag(repository: string, tag: string): Promise<Digest | undefined> {
    return isTag(tag) ? this.readLink(layout.tagCurrentLinkPath(repository, tag)) : undefined;
  }

  async hasRevision(repository: string, digest: Digest): Promise<boolean> {
    return (await this.readLink(layout.revisionLinkPath(repository, digest)))?.value === digest.value;
  }

  async hasLayer(repository: string, digest: Digest): Promise<boolean> {
    return (await this.readLink(layout.layerLinkPath(repository, digest)))?.value === digest.value;
  }

  /**
   * Hashes what a writer of the layout changes, by metadata only: every tag's current link (its time and
   * size: a moved tag's link is rewritten), every revision's directory (its time changes when its link is
   * written or deleted), the directories holding tags, revisions and layer links (an entry added or
   * removed), and the names of the layer links. One listing per directory and one stat per tag and
   * revision; no file is read. `changedAt` is the newest time seen.
   */
  async repositoryFingerprint(repository: string): Promise<{ fingerprint: string; changedAt: Date }> {
    const hash = createHash('sha256');
    let newest = 0;
    const stamp = (info: { size: number; modifiedAt: Date } | undefined): string => {
      if (!info) return '-';
      newest = Math.max(newest, info.modifiedAt.getTime());
      return `${info.size}@${info.modifiedAt.getTime()}`;
    };
    const tagsDir = layout.tagsPath(repository);
    const algorithms = ['sha256', 'sha512'];
    // The directories' own stats in one call (on an object store, one listing rather than ten requests).
    const directories = [tagsDir, ...algorithms.flatMap((algorithm) => [layout.revisionsPath(repository, algorithm), layout.layersPath(repository, algorithm)])];
    const directoryStats = await this.statMany(directories);
    const tags = await this.driver.list(tagsDir);
    const tagStats = await this.statMany(tags.map((tag) => `${tagsDir}/${tag}/current/link`));
    hash.update(`T ${stamp(directoryStats[0])}\n`);
    // One update per thousand lines rather than one per tag (repositories of hundreds of thousands of tags).
    for (let start = 0; start < tags.length; start += 1000) {
      let lines = '';
      for (let i = start; i < Math.min(start + 1000, tags.length); i++) lines += `t ${tags[i]} ${stamp(tagStats[i])}\n`;
      hash.update(lines);
    }
    for (const [a, algorithm] of algorithms.entries()) {
      const revisionsDir = directories[1 + 2 * a]!;
      const revisions = await this.driver.list(revisionsDir);
      const stats = await this.statMany(revisions.map((hex) => `${revisionsDir}/${hex}`));
      hash.update(`R ${algorithm} ${stamp(directoryStats[1 + 2 * a])}\n`);
      revisions.forEach((hex, i) => hash.update(`r ${algorithm}:${hex} ${stamp(stats[i])}\n`));
      const layersDir = directories[2 + 2 * a]!;
      hash.update(`L ${algorithm} ${stamp(directoryStats[2 + 2 * a])}\n`);
      for (const hex of await this.driver.list(layersDir)) hash.update(`l ${algorithm}:${hex}\n`);
    }
    return { fingerprint: hash.digest('base64url'), changedAt: new Date(newest) };
  }

  private statMany(paths: string[]): Promise<Array<{ size: number; modifiedAt: Date; isDirectory: boolean } | undefined>> {
    return this.driver.statMany ? this.driver.statMany(paths) : mapConcurrently(paths, (path) => this.driver.stat(path));
  }

  /** Digests whose link directory exists under `<dir>/<alg>/<hex>/link`. */
  private async listLinked(dir: (algorithm: string) => string): Promise<Digest[]> {
    const found: Digest[] = [];
    for (const algorithm of ['sha256', 'sha512']) {
      if (!isDigestAlgorithm(algorithm)) continue;
      const digests = (await this.driver.list(dir(algorithm))).map((hex) => safeDigest(`${algorithm}:${hex}`)).filter((d) => d !== undefined);
      const links = await mapConcurrently(digests, (digest) => this.readLink(`${dir(algorithm)}/${digest.hex}/link`));
      digests.forEach((digest, i) => {
        if (links[i]?.value === digest.value) found.push(digest);
      });
    }
    return found;
  }

  private async readLink(path: string): Promise<Digest | undefined> {
    const content = await this.driver.getContent(path);
    return content ? safeDigest(content.toString('utf8').trim()) : undefined;
  }

  /** Readers check a link's digest (readLink), so a driver may flush a new one more cheaply (contract.ts). */
  private writeLink(path: string, digest: Digest): Promise<void> {
    return this.driver.putContent(path, Buffer.from(digest.value), { readerValidates: true });
  }
}

function safeDigest(text: string): Digest | undefined {
  try {
    return parseDigest(text);
  } catch {
    return undefined;
  }
}
