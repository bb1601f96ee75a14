/**
 * Where builds keep their state: definitions, the durable queue, logs, and the image links between
 * bases and the images built or pushed on them. One interface, so a PostgreSQL store can follow the
 * SQLite one (sqlite-build-store.ts). Every method is one transaction.
 *
 * Queue states: queued → running → succeeded | failed | cancelled; queued → cancelled. A running build
 * holds a lease that its process renews; a lease that runs out (the process died or restarted) puts the
 * build back in the queue. Builds of one cascade (a base change rippling down a chain of links) carry
 * a sequence number and run strictly in that order.
 */
import type { BaseRecord } from '../builder.ts';
import type { BuildDefinition } from '../model/definition.ts';
import type { SourceType } from '../model/build-rules.ts';

export type BuildStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TERMINAL: readonly BuildStatus[] = ['succeeded', 'failed', 'cancelled'];

export interface BuildCause {
  kind: 'webhook' | 'trigger' | 'api' | 'base-change' | 'upload';
  /** webhook: github/gitlab/gitea; base-change: the base repository:tag and its new digest. */
  detail?: string;
}

export interface BuildRequest {
  definitionId: string;
  repository: string;
  sourceType: SourceType;
  sourceName: string;
  /** A commit to build; undefined: the head of the branch or tag when the build starts. */
  commit?: string;
  tags: string[];
  cause: BuildCause;
  cascade?: { id: string; seq: number };
  /** An uploaded context archive (id and digest) to build instead of the git source. */
  archive?: { id: string; digest: string };
}

export interface BuildRecord extends BuildRequest {
  id: string;
  status: BuildStatus;
  queuedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  attempts: number;
  cancelRequested: boolean;
  builder?: string;
  /** The commit actually built (resolved from the ref when none was given). */
  builtCommit?: string;
  digest?: string;
  bases: BaseRecord[];
  error?: string;
}

export interface BuildOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  builder?: string;
  builtCommit?: string;
  digest?: string;
  bases?: BaseRecord[];
  error?: string;
}

export interface LogLine {
  seq: number;
  text: string;
}

/** One platform image with a tag, for finding bases by layer prefix. */
export interface TaggedImage {
  repository: string;
  tag: string;
  platform: string;
  digest: string;
  /** Identity of the whole layer list (see links/layer-chain.ts). */
  chainId: string;
  layerCount: number;
}

/** An image (by repository and tag) and the base it was built or found on, per platform. */
export interface ImageLink {
  repository: string;
  tag: string;
  platform: string;
  digest: string;
  baseRepository: string;
  baseTag: string;
  baseDigest: string;
  /** 'build': recorded by a build of `definitionId`; 'layers': found by layer prefix on a push. */
  origin: 'build' | 'layers';
  definitionId?: string;
}

export interface BuildStore {
  putDefinition(definition: BuildDefinition): Promise<void>;
  getDefinition(id: string): Promise<BuildDefinition | undefined>;
  listDefinitions(repository?: string): Promise<BuildDefinition[]>;
  deleteDefinition(id: string): Promise<boolean>;
  /** Sets the trigger token's hash (a rotation voids the previous token). */
  setTriggerToken(id: string, tokenHash: string): Promise<void>;
  triggerTokenHash(id: string): Promise<string | undefined>;

  /** Queues a build, unless an identical one is already queued: then that one is returned. */
  enqueue(request: BuildRequest, now: Date): Promise<{ build: BuildRecord; deduplicated: boolean }>;
  /**
   * Takes the next runnable build for `owner` when fewer than `limit` builds are running anywhere: the
   * oldest queued one whose cascade predecessors are all finished.
   */
  claim(owner: string, limit: number, leaseMs: number, now: Date): Promise<BuildRecord | undefined>;
  /** Renews the lease; returns whether a cancellation was requested (false when the build is no longer ours). */
  renew(id: string, owner: string, leaseMs: number, now: Date): Promise<{ held: boolean; cancelRequested: boolean }>;
  finish(id: string, owner: string, outcome: BuildOutcome, now: Date): Promise<boolean>;
  /** Running builds whose lease ran out go back to the queue; returns their ids. */
  requeueExpired(now: Date): Promise<string[]>;
  /** Puts this owner's running builds back in the queue (a clean shutdown). */
  release(owner: string): Promise<void>;
  /** Cancels a queued build at once; marks a running one for its process to stop. Undefined if unknown. */
  cancel(id: string, now: Date): Promise<BuildRecord | undefined>;
  getBuild(id: string): Promise<BuildRecord | undefined>;
  listBuilds(filter: { repository?: string; definitionId?: string; status?: BuildStatus; limit: number }): Promise<BuildRecord[]>;

  appendLog(id: string, lines: string[]): Promise<void>;
  readLog(id: string, afterSeq: number, limit: number): Promise<LogLine[]>;

  recordTaggedImages(repository: string, tag: string, images: TaggedImage[]): Promise<void>;
  findByChain(chainIds: string[]): Promise<TaggedImage[]>;
  /** Replaces the links of an image tag. */
  setLinks(repository: string, tag: string, links: ImageLink[]): Promise<void>;
  /** Links of the image `repository:tag` (one per platform). */
  linksOnImage(repository: string, tag: string): Promise<ImageLink[]>;
  /** Links whose base is `repository:tag`. */
  linksOnBase(repository: string, tag: string): Promise<ImageLink[]>;
  close(): Promise<void>;
}
