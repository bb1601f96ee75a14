/**
 * Evicts cached content when the cache is over its size limit or content has not been pulled for longer
 * than its age limit, least recently pulled first. Evicting a manifest removes it (and its tags) from its
 * repository, as a manifest delete does; the garbage collector that runs right after frees the blobs no
 * remaining manifest references (those linked within its grace period are kept, as always).
 */
import type { Logger } from '../observability/logger.ts';
import { parseDigest } from '../registry/model/digest.ts';
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import { collectGarbage } from '../registry/gc/collect-garbage.ts';
import type { PullRecords } from './pull-records.ts';

export interface EvictionLimits {
  maxBytes?: number;
  maxAgeMs?: number;
  /** Grace period of the garbage collection that follows an eviction. */
  gcGraceMs: number;
}

export interface EvictionReport {
  evicted: Array<{ repository: string; digest: string; reason: 'age' | 'size' }>;
  bytesFreed: number;
}

export async function evictCache(records: PullRecords, storage: RegistryStorage, index: MetadataIndex, limits: EvictionLimits, logger: Logger, now = Date.now()): Promise<EvictionReport> {
  const all = records.all();
  let total = all.reduce((sum, r) => sum + r.size, 0);
  const evicted: EvictionReport['evicted'] = [];
  for (const record of all) {
    const tooOld = limits.maxAgeMs !== undefined && now - record.lastPulled > limits.maxAgeMs;
    const tooBig = limits.maxBytes !== undefined && total > limits.maxBytes;
    if (!tooOld && !tooBig) continue;
    const tags = await index.deleteManifest(record.repository, record.digest);
    if (tags !== undefined) {
      const digest = parseDigest(record.digest);
      await storage.unlinkRevision(record.repository, digest);
      for (const tag of tags) await storage.removeTag(record.repository, tag);
    }
    records.remove(record.repository, record.digest);
    total -= record.size;
    evicted.push({ repository: record.repository, digest: record.digest, reason: tooOld ? 'age' : 'size' });
  }
  if (evicted.length === 0) return { evicted, bytesFreed: 0 };
  const gc = await collectGarbage(storage, index, { gracePeriodMs: limits.gcGraceMs, deleteUntagged: false, keepReferrers: true, dryRun: false });
  logger.info({ evicted: evicted.length, bytesFreed: gc.bytesFreed }, 'pull-through cache eviction');
  return { evicted, bytesFreed: gc.bytesFreed };
}
