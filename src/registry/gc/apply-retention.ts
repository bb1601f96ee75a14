/**
 * Retention: per repository pattern, which tags to keep. A tag is kept when it matches `keepTags`, is
 * among the `keepLast` most recently pushed, or was pushed within `maxAgeMs`; every other tag of a matching
 * repository is deleted (immutable tags never are). Runs before garbage collection, which then removes
 * what the deleted tags held.
 */
import type { MetadataIndex, RegistryStorage } from '../ports.ts';
import { parseDigest } from '../model/digest.ts';
import { compilePattern } from '../policies/patterns.ts';
import type { TagImmutability } from '../policies/immutability.ts';

export interface RetentionRule {
  repository: string;
  keepLast?: number;
  keepTags?: string[];
  maxAgeMs?: number;
}

export interface RetentionReport {
  deleted: Array<{ repository: string; tag: string; digest: string }>;
  kept: number;
}

export async function applyRetention(
  storage: RegistryStorage,
  index: MetadataIndex,
  rules: RetentionRule[],
  immutability: TagImmutability,
  options: { dryRun: boolean; now?: Date },
): Promise<RetentionReport> {
  const report: RetentionReport = { deleted: [], kept: 0 };
  if (rules.length === 0) return report;
  const compiled = rules.map((rule) => ({ rule, repo: compilePattern(rule.repository), keep: (rule.keepTags ?? []).map(compilePattern) }));
  const now = (options.now ?? new Date()).getTime();
  for await (const repository of storage.listRepositories()) {
    const rule = compiled.find((c) => c.repo.test(repository));
    if (!rule) continue;
    const records = await index.tagRecords(repository); // newest first
    for (const [position, record] of records.entries()) {
      const keep =
        rule.keep.some((p) => p.test(record.tag)) ||
        (rule.rule.keepLast !== undefined && position < rule.rule.keepLast) ||
        (rule.rule.maxAgeMs !== undefined && now - record.updatedAt.getTime() <= rule.rule.maxAgeMs) ||
        (rule.rule.keepLast === undefined && rule.rule.maxAgeMs === undefined) ||
        immutability.ruleFor(repository, record.tag) !== undefined;
      if (keep) {
        report.kept += 1;
        continue;
      }
      if (!options.dryRun) {
        if (!(await index.deleteTag(repository, record.tag, record.digest))) continue; // moved meanwhile: keep
        await storage.removeTag(repository, record.tag);
        const current = await index.resolveTag(repository, record.tag);
        if (current) await storage.writeTag(repository, record.tag, parseDigest(current.digest)); // re-pushed meanwhile
      }
      report.deleted.push({ repository, tag: record.tag, digest: record.digest });
    }
  }
  return report;
}
