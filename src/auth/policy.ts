/**
 * The access policy (config `access.policy`, Pier-only): users and groups → repository patterns → actions.
 *
 * - No policy configured: every authenticated user may do everything, anonymous users nothing — what the
 *   reference registry does with htpasswd.
 * - With a policy, nothing is allowed unless a line allows it:
 *   `admins` may do everything everywhere; `namespaces: true` gives every user everything under `<user>/`;
 *   each rule gives its users (`*` = every authenticated user) and groups its actions on its repositories;
 *   `anonymous` patterns may be pulled by anyone, signed in or not.
 * - The catalog (`registry:catalog:*`) is open to whoever may pull something; what it lists is filtered by
 *   `canPull`, except for admins and when there is no policy.
 *
 * Patterns: `*` matches within one path segment, `**` across segments (`team/**` = everything under team/),
 * anything else literally.
 */
import type { AccessRule, PierConfig } from '../config/schema.ts';
import { ALL_ACTIONS } from './scope.ts';
import { compilePattern } from '../registry/policies/patterns.ts';

export type PolicyConfig = NonNullable<PierConfig['access']['policy']>;

/** Who is asking: an authenticated user name, or undefined for anonymous. */
export type UserName = string | undefined;

interface CompiledRule {
  patterns: RegExp[];
  users: Set<string>;
  groups: Set<string>;
  actions: Set<string>;
}

export class AccessPolicy {
  private readonly admins: Set<string>;
  private readonly anonymous: RegExp[];
  private readonly rules: CompiledRule[];
  private readonly groupsOf = new Map<string, Set<string>>();

  /** `undefined`: no policy, every authenticated user may do everything. */
  constructor(private readonly config: PolicyConfig | undefined) {
    this.admins = new Set(config?.admins ?? []);
    this.anonymous = (config?.anonymous ?? []).map(compilePattern);
    this.rules = (config?.rules ?? []).map((rule: AccessRule) => ({
      patterns: rule.repositories.map(compilePattern),
      users: new Set(rule.users),
      groups: new Set(rule.groups),
      actions: new Set(rule.actions.includes('*') ? ALL_ACTIONS : rule.actions),
    }));
    for (const [group, members] of Object.entries(config?.groups ?? {})) {
      for (const member of members) {
        if (!this.groupsOf.has(member)) this.groupsOf.set(member, new Set());
        this.groupsOf.get(member)!.add(group);
      }
    }
  }

  get enabled(): boolean {
    return this.config !== undefined;
  }

  isAdmin(user: UserName): boolean {
    return user !== undefined && (this.config === undefined || this.admins.has(user));
  }

  /** The actions `user` may take on a resource (`registry:catalog` or `repository:<name>`). */
  allowed(user: UserName, type: string, name: string): Set<string> {
    if (type === 'registry') {
      const catalog = name === 'catalog' && (user !== undefined || this.anonymous.length > 0);
      return new Set(catalog ? ['*'] : []);
    }
    if (type !== 'repository') return new Set();
    if (this.isAdmin(user)) return new Set(ALL_ACTIONS);
    const actions = new Set<string>();
    if (this.anonymous.some((p) => p.test(name))) actions.add('pull');
    if (user === undefined) return actions;
    if (this.config?.namespaces && name.startsWith(`${user}/`)) return new Set(ALL_ACTIONS);
    const groups = this.groupsOf.get(user) ?? new Set<string>();
    for (const rule of this.rules) {
      const applies = rule.users.has('*') || rule.users.has(user) || [...rule.groups].some((g) => groups.has(g));
      if (applies && rule.patterns.some((p) => p.test(name))) for (const a of rule.actions) actions.add(a);
    }
    return actions;
  }

  canPull(user: UserName, repository: string): boolean {
    return this.allowed(user, 'repository', repository).has('pull');
  }

  /** Whether the catalog must be filtered for this user (false: it sees every repository). */
  filtersCatalog(user: UserName): boolean {
    return !this.isAdmin(user);
  }
}
