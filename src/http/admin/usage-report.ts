/**
 * Storage used by a repository or a namespace, with the quotas of `lifecycle.quotas` that apply — what
 * `GET /pier/api/v1/usage` answers and `pier usage` prints. Usage counts each blob once per scope, as quota
 * enforcement does (registry/policies/quotas.ts, MetadataIndex.usage). Nothing here knows HTTP.
 */
import { Quotas, type QuotaRule } from '../../registry/policies/quotas.ts';
import type { MetadataIndex, UsageScope } from '../../registry/ports.ts';

export interface QuotaUsage {
  repository?: string;
  namespace?: string;
  usage: number;
  limit: number;
}

export interface UsageReport {
  repository?: string;
  namespace?: string;
  /** Bytes of the distinct blobs linked in the scope. */
  usage: number;
  /** The scope's own quota (the smallest, when several rules match); null when none applies. */
  limit: number | null;
  /**
   * Every quota a push into this scope is checked against, with its usage: for a repository, its own quota
   * and its namespace's.
   */
  quotas: QuotaUsage[];
}

/** A namespace is the first path component of repository names. */
export const NAMESPACE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

export async function usageReport(index: MetadataIndex, rules: QuotaRule[], scope: UsageScope): Promise<UsageReport> {
  const quotas = new Quotas(rules);
  const applying =
    'repository' in scope ? quotas.scopesOf(scope.repository) : quotas.scopesOf(scope.namespace).filter((q) => 'namespace' in q.scope);
  // One entry per scope: the smallest limit is the one that binds.
  const byScope = new Map<string, { scope: UsageScope; limit: number }>();
  for (const q of applying) {
    const key = 'repository' in q.scope ? `r:${q.scope.repository}` : `n:${q.scope.namespace}`;
    const known = byScope.get(key);
    if (!known || q.limitBytes < known.limit) byScope.set(key, { scope: q.scope, limit: q.limitBytes });
  }
  const usage = await index.usage(scope);
  const ownKey = 'repository' in scope ? `r:${scope.repository}` : `n:${scope.namespace}`;
  const list: QuotaUsage[] = [];
  for (const [key, q] of byScope) {
    list.push({ ...q.scope, usage: key === ownKey ? usage : await index.usage(q.scope), limit: q.limit });
  }
  return { ...scope, usage, limit: byScope.get(ownKey)?.limit ?? null, quotas: list };
}

/** `1536` → `1.5 KiB`. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
