/**
 * The ports of the registry domain: what the use cases need from the outside world, and nothing more.
 * Adapters implement them (storage/registry-storage.ts over any StorageDriver, index/sqlite for the
 * metadata index); the composition root (main/) wires them together. The domain never imports an adapter.
 */
import type { Readable } from 'node:stream';
import type { Digest } from './model/digest.ts';
import type { ManifestMediaType } from './model/media-types.ts';

/** A writer for the bytes of an upload session. */
export interface UploadAppender {
  /** Bytes already in the session before this appender wrote anything. */
  readonly startSize: number;
  write(chunk: Buffer): Promise<void>;
  commit(): Promise<void>;
  /** Discards what this appender wrote: the session is back to startSize. */
  abort(): Promise<void>;
}

/**
 * Bytes and links in the reference registry's layout. Writes are idempotent; a blob path only ever holds
 * bytes whose digest has been verified.
 */
export interface RegistryStorage {
  blobSize(digest: Digest): Promise<number | undefined>;
  /**
   * Makes a blob that is already there durable (its bytes and its name), before a push that found it —
   * another upload may have just renamed it into place and not yet flushed its directory, or another
   * registry may never have — is acknowledged.
   */
  flushBlob(digest: Digest): Promise<void>;
  readBlob(digest: Digest): Promise<Buffer | undefined>;
  openBlob(digest: Digest, range?: { start: number; end: number }): Promise<Readable | undefined>;
  /** Stores small verified content (a manifest) at its content address. */
  putBlob(digest: Digest, data: Buffer): Promise<void>;

  linkLayer(repository: string, digest: Digest): Promise<void>;
  unlinkLayer(repository: string, digest: Digest): Promise<void>;
  linkRevision(repository: string, digest: Digest): Promise<void>;
  unlinkRevision(repository: string, digest: Digest): Promise<void>;
  writeTag(repository: string, tag: string, digest: Digest): Promise<void>;
  /**
   * A pushed manifest's links: its revision and, with a tag, the tag's history at once (their flushes
   * overlap), then the tag's current link last, so a tag never points at a revision that is not linked.
   */
  linkManifest(repository: string, digest: Digest, tag?: string): Promise<void>;
  removeTag(repository: string, tag: string): Promise<void>;

  createUpload(repository: string, id: string, startedAt: Date): Promise<void>;
  /** Whether the session exists (cheaper than uploadStatus: no size, no start time). */
  hasUpload(repository: string, id: string): Promise<boolean>;
  /** Bytes in the session's data so far (0 when none were written). */
  uploadDataSize(repository: string, id: string): Promise<number>;
  /** undefined when the session does not exist. */
  uploadStatus(repository: string, id: string): Promise<{ size: number; startedAt: Date } | undefined>;
  appendToUpload(repository: string, id: string): Promise<UploadAppender>;
  readUpload(repository: string, id: string): Promise<Readable | undefined>;
  /** Moves the verified upload to its content address (the caller checked it is not there yet) and removes the session. */
  commitUpload(repository: string, id: string, digest: Digest): Promise<void>;
  deleteUpload(repository: string, id: string): Promise<void>;

  // Walking, for rebuilding the index from storage and for garbage collection.
  listBlobs(): AsyncIterable<{ digest: Digest; size: number; modifiedAt: Date }>;
  deleteBlob(digest: Digest): Promise<void>;
  /** Moves a blob's bytes out of the content store (to pier/quarantine/), for an operator to inspect. */
  quarantineBlob(digest: Digest): Promise<void>;
  listUploads(repository: string): Promise<Array<{ id: string; startedAt: Date }>>;
  listRepositories(): AsyncIterable<string>;
  listTags(repository: string): Promise<Array<{ tag: string; digest: Digest }>>;
  listRevisions(repository: string): Promise<Digest[]>;
  listLayers(repository: string): Promise<Digest[]>;
  /** A short-lived URL that serves the blob's bytes straight from the store, when storage can make one. */
  blobUrl?(digest: Digest, method: 'GET' | 'HEAD'): Promise<string | undefined>;

  // Single lookups, for adopting what another writer (the reference registry) put in storage.
  /** The digest a tag points to in storage, or undefined. */
  readTag(repository: string, tag: string): Promise<Digest | undefined>;
  hasRevision(repository: string, digest: Digest): Promise<boolean>;
  hasLayer(repository: string, digest: Digest): Promise<boolean>;
  /**
   * A token that changes whenever the repository's tags, manifest revisions or layer links change in
   * storage, whoever writes them, and costs far less than reading them (stats and listings, no content);
   * with the time of the newest change it saw.
   */
  repositoryFingerprint(repository: string): Promise<{ fingerprint: string; changedAt: Date }>;
}

export interface ManifestRecord {
  digest: string;
  mediaType: ManifestMediaType;
  size: number;
  /** Set by the pull-through cache when it serves a tag it could not revalidate (sent as a `Warning` header). */
  warning?: string;
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Outcome of linking a blob: 'deleting' when a garbage collection is removing its bytes right now. */
export type LinkResult = 'linked' | 'deleting';

export type PutManifestResult =
  | { kind: 'stored' }
  /** Referenced blobs or child manifests that are not (or no longer) in the repository. */
  | { kind: 'missing'; digests: string[] }
  /** A garbage collection is deleting this manifest's bytes right now: store them again, then retry. */
  | { kind: 'deleting' }
  /** `tagImmutable` was set and the tag already points at another manifest (`current`); nothing changed. */
  | { kind: 'immutable'; current: string };

/** A quota scope: one repository, or every repository under a namespace (first path component). */
export type UsageScope = { repository: string } | { namespace: string };

export interface TagRecord {
  tag: string;
  digest: string;
  /** When the tag was last moved. */
  updatedAt: Date;
}

export interface ManifestWrite {
  repository: string;
  digest: string;
  mediaType: ManifestMediaType;
  size: number;
  blobs: string[];
  children: string[];
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  tag?: string;
  /**
   * The tag may be created but never moved: checked inside the transaction that would move it, so two
   * concurrent first pushes of one immutable tag cannot both succeed.
   */
  tagImmutable?: boolean;
}

/** A repository as found in storage. */
export interface RepositoryContent {
  blobs: Array<{ digest: string; size: number }>;
  manifests: Array<Omit<ManifestWrite, 'repository' | 'tag'>>;
  tags: Array<{ tag: string; digest: string }>;
}

export interface ImportOptions {
  replaceOlderThan?: Date;
  fingerprint?: string;
}

/**
 * An event for the outbox (events/), stored by the index in the SAME transaction as the change that
 * caused it, so an acknowledged write always has its event stored (and a refused one never does).
 * Unlike the rest of the index the outbox is not derived from storage: `clear()` keeps it.
 */
export interface OutboxEvent {
  /** Unique and stable (a UUID): receivers deduplicate on it, retries keep it. */
  id: string;
  /** Pier's event type: `image.pushed`, `blob.pushed`, `tag.deleted`, … or another module's (`build.succeeded`). */
  type: string;
  /** The repository it concerns (for matching repository webhooks); absent for registry-wide events. */
  repository?: string;
  occurredAt: Date;
  /** The event itself, JSON-serialisable (events/event-model.ts); stored and returned unchanged. */
  payload: unknown;
}

/**
 * The metadata index: what is live, and fast listings. One method = one transaction. It can be rebuilt
 * from storage at any time (index/rebuild.ts), so it holds nothing that storage does not — except the
 * outbox of events (see OutboxEvent) and the tables of events/event-log.ts, which `clear()` keeps.
 *
 * Write methods take optional `events`: outbox rows to insert in the same transaction, only when the
 * write takes effect (the blob is linked, the manifest stored, the tag or manifest deleted).
 */
export interface MetadataIndex {
  /**
   * Links a blob whose bytes are in storage into a repository (and restarts its grace period).
   * Refused with 'deleting' while a garbage collection is deleting those bytes.
   */
  addBlob(repository: string, digest: string, size: number, events?: OutboxEvent[]): Promise<LinkResult>;
  /** Size of a blob linked into the repository, or undefined. */
  repositoryBlobSize(repository: string, digest: string): Promise<number | undefined>;
  removeBlob(repository: string, digest: string, events?: OutboxEvent[]): Promise<boolean>;

  /**
   * Records a manifest, its references and (optionally) moves a tag to it, in one transaction that also
   * checks, unless `trustReferences`, that every referenced blob and child is in the repository — checked
   * inside the transaction, so a concurrent garbage collection cannot remove one in between.
   */
  putManifest(write: ManifestWrite, options?: { trustReferences?: boolean; events?: OutboxEvent[] }): Promise<PutManifestResult>;
  getManifest(repository: string, digest: string): Promise<ManifestRecord | undefined>;
  /** Removes a manifest and every tag pointing at it; returns the removed tags, or undefined if unknown. */
  deleteManifest(repository: string, digest: string, events?: OutboxEvent[]): Promise<string[] | undefined>;
  /** Of the given manifest digests, those missing from the repository. */
  missingManifests(repository: string, digests: string[]): Promise<string[]>;
  /** Of the given blob digests, those not linked into the repository. */
  missingBlobs(repository: string, digests: string[]): Promise<string[]>;

  resolveTag(repository: string, tag: string): Promise<ManifestRecord | undefined>;
  /** Deletes the tag (only if it still points at `expectedDigest`, when given). */
  deleteTag(repository: string, tag: string, expectedDigest?: string, events?: OutboxEvent[]): Promise<boolean>;
  /** Tags in lexical order after `after`, at most `limit`; undefined when the repository is unknown. */
  listTags(repository: string, after: string | undefined, limit: number): Promise<string[] | undefined>;
  listRepositories(after: string | undefined, limit: number): Promise<string[]>;
  /** Every tag of a repository with its digest and time (for retention); empty when unknown. */
  tagRecords(repository: string): Promise<TagRecord[]>;
  /** Bytes of the distinct blobs linked in the scope. */
  usage(scope: UsageScope): Promise<number>;
  blobInScope(scope: UsageScope, digest: string): Promise<boolean>;
  repositoryExists(repository: string): Promise<boolean>;
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]>;

  // Garbage collection (registry/gc). `cutoff`: anything pushed or linked after it is within the grace period.
  /** Manifests reachable from no tag (through index children, and referrers when `keepReferrers`), pushed before cutoff. */
  unreachableManifests(cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>>;
  /**
   * Deletes each manifest that is still unreachable and still older than cutoff; returns those deleted.
   * The collector passes a batch at a time: one transaction per batch, not per manifest.
   */
  deleteManifestsIfUnreachable(manifests: Array<{ repository: string; digest: string }>, cutoff: Date, keepReferrers: boolean): Promise<Array<{ repository: string; digest: string }>>;
  /** Layer links that no manifest in their repository references, linked before cutoff. */
  unusedLayerLinks(cutoff: Date): Promise<Array<{ repository: string; digest: string }>>;
  /** Removes each layer link that is still unused and still older than cutoff (a batch); returns those removed. */
  removeLayerLinksIfUnused(links: Array<{ repository: string; digest: string }>, cutoff: Date): Promise<Array<{ repository: string; digest: string }>>;
  /**
   * True when a manifest, a manifest reference, or a link younger than cutoff keeps these bytes.
   * `ignoring`: answer as if these manifests (and their references) were gone (for a dry run).
   */
  isBlobLive(digest: string, cutoff: Date, ignoring?: Array<{ repository: string; digest: string }>): Promise<boolean>;
  /**
   * Starts deleting blobs' bytes, a batch in one transaction: each blob that is not live is marked as
   * being deleted (so nobody links it until endBlobDeletions) and loses its remaining layer links. Returns,
   * for each blob marked, the repositories it was linked in; a blob left out is live and must be kept.
   */
  beginBlobDeletions(digests: string[], cutoff: Date): Promise<Map<string, string[]>>;
  endBlobDeletions(digests: string[]): Promise<void>;

  /**
   * Takes (or renews) the write lock of an upload session for `owner`; false when another owner holds it.
   * Serialises chunks across processes that share the data directory.
   *
   * A lock must not outlive its holder: once the process that took it is gone (killed, crashed), another
   * owner gets it at once, so a client can resume the session right after a restart. How a backend knows
   * is its own business — SQLite records the holder's host, boot, process id and start time and checks
   * them on the same host; a database with sessions (PostgreSQL) ties the lock to the holder's session.
   * `ttlMs` is a lease, only the last resort for a holder the backend cannot check (another host).
   */
  lockUpload(id: string, owner: string, ttlMs: number): Promise<boolean>;
  unlockUpload(id: string, owner: string): Promise<void>;

  /**
   * Records a whole repository found in storage in one transaction (rebuild, reconciliation): its layer
   * links, manifests (references trusted as found) and tags (only those whose manifest is among
   * `manifests`). With `replaceOlderThan`, storage also wins over what the index holds from before that
   * time: tags, manifests and links not in `content` are removed, tags are moved to storage's digest;
   * rows written at or after it are left alone (a running Pier writes the index before storage), and a
   * repository left with nothing is forgotten. `fingerprint` is stored for storageFingerprints().
   */
  importRepository(repository: string, content: RepositoryContent, options?: ImportOptions): Promise<void>;
  /** Per repository, the storage fingerprint recorded by the last importRepository that gave one. */
  storageFingerprints(): Promise<Map<string, string>>;
  /**
   * When storage was last compared with the index for `repository` (index/storage-gate.ts), in ms since the
   * epoch; undefined when never. The key '*' (no repository's name) records the last whole pass.
   */
  storageCheckedAt(repository: string): Promise<number | undefined>;
  /** Records that storage was compared with the index for these repositories (or '*') at `at`. */
  recordStorageChecks(repositories: string[], at: number): Promise<void>;

  /** Stores events that go with no index change (pulls, other modules' events), in one transaction. */
  appendEvents(events: OutboxEvent[]): Promise<void>;

  /** Removes everything derived from storage (not the outbox); used before a rebuild. */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export interface Clock {
  now(): Date;
}
