/**
 * Storage quotas in bytes, per repository or per namespace (the first path component: `team` holds
 * `team/app` and `team/tools/x`). Usage counts each blob once per scope, whatever number of repositories
 * or manifests share it. A blob upload or mount that would take a scope over its limit is refused.
 */
import { RegistryError } from '../errors.ts';
import { compilePattern } from './patterns.ts';
import type { MetadataIndex, UsageScope } from '../ports.ts';

export type QuotaRule = { repository: string; limitBytes: number } | { namespace: string; limitBytes: number };

export class Quotas {
  private readonly rules: Array<{ rule: QuotaRule; pattern: RegExp }>;

  constructor(rules: QuotaRule[]) {
    this.rules = rules.map((rule) => ({ rule, pattern: compilePattern('repository' in rule ? rule.repository : rule.namespace) }));
  }

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** The scopes (with their limits) that a repository falls in. */
  scopesOf(repository: string): Array<{ scope: UsageScope; limitBytes: number }> {
    const namespace = repository.split('/')[0]!;
    const scopes: Array<{ scope: UsageScope; limitBytes: number }> = [];
    for (const { rule, pattern } of this.rules) {
      if ('repository' in rule && pattern.test(repository)) scopes.push({ scope: { repository }, limitBytes: rule.limitBytes });
      if ('namespace' in rule && pattern.test(namespace)) scopes.push({ scope: { namespace }, limitBytes: rule.limitBytes });
    }
    return scopes;
  }

  /** Throws DENIED when linking `digest` (of `size` bytes) into `repository` would exceed a quota. */
  async checkLink(index: MetadataIndex, repository: string, digest: string, size: number): Promise<void> {
    for (const { scope, limitBytes } of this.scopesOf(repository)) {
      const usage = await index.usage(scope);
      if (await index.blobInScope(scope, digest)) continue; // counted once per scope
      if (usage + size > limitBytes) {
        const name = 'repository' in scope ? `repository ${scope.repository}` : `namespace ${scope.namespace}`;
        throw new RegistryError('DENIED', `quota exceeded for ${name}: ${usage} bytes used + ${size} > limit ${limitBytes}`, {
          ...scope,
          usage,
          size,
          limit: limitBytes,
        });
      }
    }
  }
}
