/** Tag immutability: a tag matching a rule cannot be moved to another manifest, nor deleted. */
import { RegistryError } from '../errors.ts';
import { compilePattern } from './patterns.ts';

export interface ImmutabilityRule {
  /** Repository pattern (see patterns.ts). */
  repository: string;
  /** Tag pattern, e.g. `v*` or `release-*`. */
  tag: string;
}

export class TagImmutability {
  private readonly rules: Array<ImmutabilityRule & { repo: RegExp; tagRe: RegExp }>;

  constructor(rules: ImmutabilityRule[]) {
    this.rules = rules.map((r) => ({ ...r, repo: compilePattern(r.repository), tagRe: compilePattern(r.tag) }));
  }

  ruleFor(repository: string, tag: string): ImmutabilityRule | undefined {
    return this.rules.find((r) => r.repo.test(repository) && r.tagRe.test(tag));
  }

  /** Throws DENIED when the tag is immutable; `change` says what was attempted. */
  check(repository: string, tag: string, change: 'moved' | 'deleted'): void {
    const rule = this.ruleFor(repository, tag);
    if (rule) {
      throw new RegistryError('DENIED', `tag ${tag} is immutable (rule repository=${rule.repository} tag=${rule.tag}) and cannot be ${change}`, {
        repository,
        tag,
        rule,
      });
    }
  }
}
