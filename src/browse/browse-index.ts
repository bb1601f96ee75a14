/**
 * The read model behind the web UI and the admin API's browsing resources (Pier-only): repositories with
 * their size, tag count and last push; tags with their manifest and image sizes; and facts derived from
 * image content (platforms, labels) that listings and search need without reading blobs per request.
 *
 * It is a port of its own, beside the registry's MetadataIndex, so the registry's write path is untouched
 * and each index backend can answer it with one query per listing. Everything here is derived data:
 * facts are keyed by content digest and so never go stale.
 */

export interface RepositorySummary {
  name: string;
  tagCount: number;
  /** Bytes of the distinct blobs linked into the repository. */
  sizeBytes: number;
  /** The last time a manifest was pushed or a tag moved; undefined for an empty repository. */
  lastPushAt: Date | undefined;
}

export interface TagSummary {
  tag: string;
  digest: string;
  mediaType: string;
  /** Size of the manifest itself. */
  manifestSize: number;
  /** Manifest, config and layers (for an index: every child's as well), each blob counted once. */
  imageSize: number;
  /** When the tag was last moved to this digest. */
  updatedAt: Date;
  /** When the manifest was last pushed. */
  pushedAt: Date;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** What the UI shows and searches that only the content says; computed once per digest. */
export interface ImageFacts {
  platforms: Platform[];
  labels: Record<string, string>;
  /** The image config's creation time, when it has one. */
  created?: string;
}

export interface ManifestSummary {
  digest: string;
  mediaType: string;
  size: number;
  pushedAt: Date;
  artifactType?: string;
  subject?: string;
  annotations?: Record<string, string>;
  tags: string[];
}

/** Per repository, the labels and annotations of its tagged manifests, for search. */
export interface SearchableMetadata {
  labels: Array<[string, string]>;
  annotations: Array<[string, string]>;
}

/** Who pushed a manifest into a repository last, and when it was last pulled (recorded by this Pier). */
export interface ImageActivity {
  pushedBy?: string;
  pushedAt?: Date;
  lastPulledAt?: Date;
}

export interface ActivityRecord extends ImageActivity {
  repository: string;
  digest: string;
}

/** Pushes and pulls counted for one repository on one UTC day (`YYYY-MM-DD`). */
export interface DailyCount {
  day: string;
  repository: string;
  pushes: number;
  pulls: number;
}

/** One UTC day of the whole registry: pushes, pulls, and the bytes stored when it was last measured that day. */
export interface DailyActivity {
  day: string;
  pushes: number;
  pulls: number;
  storedBytes: number | null;
}

export interface BrowseIndex {
  /** Every repository with its figures (the caller filters what a user may see). */
  repositories(): Promise<RepositorySummary[]>;
  /** One repository's figures; undefined when it is unknown. */
  repository(name: string): Promise<RepositorySummary | undefined>;
  /** The repository's tags, newest first; undefined when the repository is unknown. */
  tags(repository: string): Promise<TagSummary[] | undefined>;
  manifest(repository: string, digest: string): Promise<ManifestSummary | undefined>;
  /** Sizes of blobs linked into a repository (undefined for a blob that is not). */
  blobSizes(repository: string, digests: string[]): Promise<Map<string, number>>;
  /** Labels (from stored facts) and annotations of every tagged manifest, by repository. */
  searchableMetadata(): Promise<Map<string, SearchableMetadata>>;
  facts(digests: string[]): Promise<Map<string, ImageFacts>>;
  /** Stores facts by manifest digest, in one transaction. */
  saveFacts(facts: Map<string, ImageFacts>): Promise<void>;
  /** Tagged manifests whose facts are not known yet, with one repository holding each. */
  manifestsWithoutFacts(limit: number): Promise<Array<{ repository: string; digest: string }>>;
  /** Merges records: a push sets pusher and time; a pull moves the last-pulled time forward only. */
  recordActivity(records: ActivityRecord[]): Promise<void>;
  /** By manifest digest; digests never pushed or pulled through this registry are absent. */
  activity(repository: string): Promise<Map<string, ImageActivity>>;
  /** Adds to the day's counts. */
  addDailyCounts(counts: DailyCount[]): Promise<void>;
  /** Bytes of every distinct blob in the registry. */
  storedBytes(): Promise<number>;
  /** Records the bytes stored on a day (the last measurement of the day wins). */
  recordStoredBytes(day: string, bytes: number): Promise<void>;
  /** Days from `sinceDay` on that have counts or a measurement, oldest first. */
  dailyActivity(sinceDay: string): Promise<DailyActivity[]>;
  close(): Promise<void>;
}
