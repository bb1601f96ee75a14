/**
 * The decorator that makes index writes emit events: it wraps the MetadataIndex the registry's use cases
 * write through and hands each write the events it causes, so the index stores them in the SAME
 * transaction (an acknowledged push always has its event; a refused one never does). Reads pass through.
 *
 * Which writes emit what follows the reference registry (CNCF Distribution 2.8): a blob upload's commit is
 * a `push` of the blob (media type application/octet-stream), a manifest put is a `push` with the tag when
 * pushed by tag, a cross-repository mount is a `mount`, a manifest delete is one `delete` for the digest and
 * one per tag it carried, a tag delete is a `delete` of the tag, a blob delete a `delete` of the blob.
 */
import type {
  LinkResult,
  ManifestRecord,
  ManifestWrite,
  MetadataIndex,
  OutboxEvent,
  PutManifestResult,
  ReferrerRecord,
  TagRecord,
  UsageScope,
} from '../registry/ports.ts';
import { BLOB_MEDIA_TYPE, registryEvent, type EventSource, type EventTarget, type RegistryAction } from './event-model.ts';
import { currentRequest } from './request-context.ts';

export interface RecordingOptions {
  source: EventSource;
  /** notifications.events.includereferences: manifest events list the digests they reference. */
  includeReferences: boolean;
  now?: () => Date;
  /** Called after a write stored events (to wake the dispatcher). */
  onStored?: () => void;
}

export class EventRecordingIndex implements MetadataIndex {
  private readonly now: () => Date;

  constructor(
    private readonly inner: MetadataIndex,
    private readonly options: RecordingOptions,
  ) {
    this.now = options.now ?? (() => new Date());
  }

  private event(action: RegistryAction, target: EventTarget): OutboxEvent {
    return registryEvent(action, target, currentRequest(), this.options.source, this.now());
  }

  private async notify<T>(write: Promise<T>): Promise<T> {
    const result = await write;
    this.options.onStored?.();
    return result;
  }

  // Writes that emit events.

  addBlob(repository: string, digest: string, size: number, events: OutboxEvent[] = []): Promise<LinkResult> {
    const request = currentRequest();
    const from = request?.method === 'POST' && request.query.has('mount') ? request.query.get('from') : null;
    const target: EventTarget = { mediaType: BLOB_MEDIA_TYPE, size, digest, repository };
    const event = from !== null && from !== undefined ? this.event('mount', { ...target, fromRepository: from }) : this.event('push', target);
    return this.notify(this.inner.addBlob(repository, digest, size, [...events, event]));
  }

  removeBlob(repository: string, digest: string, events: OutboxEvent[] = []): Promise<boolean> {
    // As the reference: a blob delete names only the digest and repository.
    const event = registryEvent('delete', { digest, repository }, currentRequest(), this.options.source, this.now(), 'blob.deleted');
    return this.notify(this.inner.removeBlob(repository, digest, [...events, event]));
  }

  putManifest(write: ManifestWrite, options: { trustReferences?: boolean; events?: OutboxEvent[] } = {}): Promise<PutManifestResult> {
    const target: EventTarget = {
      mediaType: write.mediaType,
      size: write.size,
      digest: write.digest,
      repository: write.repository,
      ...(write.tag !== undefined ? { tag: write.tag } : {}),
    };
    if (this.options.includeReferences) target.references = [...write.blobs, ...write.children].map((digest) => ({ digest }));
    return this.notify(this.inner.putManifest(write, { ...options, events: [...(options.events ?? []), this.event('push', target)] }));
  }

  async deleteManifest(repository: string, digest: string, events: OutboxEvent[] = []): Promise<string[] | undefined> {
    // The tags that go with it, for one delete event per tag (the reference sends those too).
    const tags = (await this.inner.tagRecords(repository)).filter((t) => t.digest === digest).map((t) => t.tag);
    const own = [this.event('delete', { digest, repository }), ...tags.map((tag) => this.event('delete', { repository, tag }))];
    return this.notify(this.inner.deleteManifest(repository, digest, [...events, ...own]));
  }

  deleteTag(repository: string, tag: string, expectedDigest?: string, events: OutboxEvent[] = []): Promise<boolean> {
    return this.notify(this.inner.deleteTag(repository, tag, expectedDigest, [...events, this.event('delete', { repository, tag })]));
  }

  // Everything else passes through.

  appendEvents(events: OutboxEvent[]): Promise<void> {
    return this.inner.appendEvents(events);
  }
  repositoryBlobSize(repository: string, digest: string): Promise<number | undefined> {
    return this.inner.repositoryBlobSize(repository, digest);
  }
  getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined> {
    return this.inner.getManifest(repository, digest);
  }
  missingManifests(repository: string, digests: string[]): Promise<string[]> {
    return this.inner.missingManifests(repository, digests);
  }
  missingBlobs(repository: string, digests: string[]): Promise<string[]> {
    return this.inner.missingBlobs(repository, digests);
  }
  resolveTag(repository: string, tag: string): Promise<ManifestRecord | undefined> {
    return this.inner.resolveTag(repository, tag);
  }
  listTags(repository: string, after: string | undefined, limit: number): Promise<string[] | undefined> {
    return this.inner.listTags(repository, after, limit);
  }
  listRepositories(after: string | undefined, limit: number): Promise<string[]> {
    return this.inner.listRepositories(after, limit);
  }
  tagRecords(repository: string): Promise<TagRecord[]> {
    return this.inner.tagRecords(repository);
  }
  usage(scope: UsageScope): Promise<number> {
    return this.inner.usage(scope);
  }
  blobInScope(scope: UsageScope, digest: string): Promise<boolean> {
    return this.inner.blobInScope(scope, digest);
  }
  repositoryExists(repository: string): Promise<boolean> {
    return this.inner.repositoryExists(repository);
  }
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]> {
    return this.inner.listReferrers(repository, subject, artifactType);
  }
  unreachableManifests(cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>> {
    return this.inner.unreachableManifests(cutoff, keepReferrers);
  }
  deleteManifestsIfUnreachable(...args: Parameters<MetadataIndex['deleteManifestsIfUnreachable']>): ReturnType<MetadataIndex['deleteManifestsIfUnreachable']> {
    return this.inner.deleteManifestsIfUnreachable(...args);
  }
  unusedLayerLinks(cutoff: Date): Promise<Array<{ repository: string; digest: string }>> {
    return this.inner.unusedLayerLinks(cutoff);
  }
  removeLayerLinksIfUnused(...args: Parameters<MetadataIndex['removeLayerLinksIfUnused']>): ReturnType<MetadataIndex['removeLayerLinksIfUnused']> {
    return this.inner.removeLayerLinksIfUnused(...args);
  }
  isBlobLive(...args: Parameters<MetadataIndex['isBlobLive']>): ReturnType<MetadataIndex['isBlobLive']> {
    return this.inner.isBlobLive(...args);
  }
  beginBlobDeletions(...args: Parameters<MetadataIndex['beginBlobDeletions']>): ReturnType<MetadataIndex['beginBlobDeletions']> {
    return this.inner.beginBlobDeletions(...args);
  }
  endBlobDeletions(...args: Parameters<MetadataIndex['endBlobDeletions']>): ReturnType<MetadataIndex['endBlobDeletions']> {
    return this.inner.endBlobDeletions(...args);
  }
  storageFingerprints(...args: Parameters<MetadataIndex['storageFingerprints']>): ReturnType<MetadataIndex['storageFingerprints']> {
    return this.inner.storageFingerprints(...args);
  }
  storageCheckedAt(repository: string): Promise<number | undefined> {
    return this.inner.storageCheckedAt(repository);
  }
  recordStorageChecks(repositories: string[], at: number): Promise<void> {
    return this.inner.recordStorageChecks(repositories, at);
  }
  lockUpload(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return this.inner.lockUpload(id, owner, ttlMs);
  }
  unlockUpload(id: string, owner: string): Promise<void> {
    return this.inner.unlockUpload(id, owner);
  }
  importRepository(...args: Parameters<MetadataIndex['importRepository']>): ReturnType<MetadataIndex['importRepository']> {
    return this.inner.importRepository(...args);
  }
  clear(): Promise<void> {
    return this.inner.clear();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
