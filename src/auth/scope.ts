/**
 * Scopes of the Docker registry token authentication flow: `repository:library/app:pull,push`,
 * `registry:catalog:*`. A token's `access` claim lists the same triples as `{type, name, actions}`.
 * The actions are `pull`, `push`, `delete` and `*` (all of them).
 */

export interface ResourceAccess {
  /** `repository` or `registry` (a `repository(plugin)` class is dropped). */
  type: string;
  name: string;
  actions: string[];
}

export const ALL_ACTIONS = ['pull', 'push', 'delete'] as const;

/**
 * Parses one `scope` parameter, which may hold several scopes separated by spaces. The name may contain `:`
 * (a registry host with a port), so the type is before the first colon and the actions after the last.
 * Malformed scopes are skipped.
 */
export function parseScopes(text: string): ResourceAccess[] {
  const out: ResourceAccess[] = [];
  for (const part of text.split(' ')) {
    const first = part.indexOf(':');
    const last = part.lastIndexOf(':');
    if (first <= 0 || last === first) continue;
    const type = part.slice(0, first).replace(/\(.*\)$/, '');
    const name = part.slice(first + 1, last);
    const actions = part.slice(last + 1).split(',').filter((a) => a !== '');
    if (name === '' || actions.length === 0 || !/^[a-z0-9]+$/.test(type)) continue;
    out.push({ type, name, actions: [...new Set(actions)] });
  }
  return out;
}

export function formatScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** Merges entries for the same resource (the union of their actions). */
export function mergeAccess(entries: ResourceAccess[]): ResourceAccess[] {
  const byKey = new Map<string, ResourceAccess>();
  for (const e of entries) {
    const key = `${e.type}\u0000${e.name}`;
    const existing = byKey.get(key);
    if (existing) existing.actions = [...new Set([...existing.actions, ...e.actions])];
    else byKey.set(key, { type: e.type, name: e.name, actions: [...e.actions] });
  }
  return [...byKey.values()];
}

/** Whether a set of granted actions covers `action` (`*` covers everything). */
export function covers(granted: ReadonlySet<string> | readonly string[], action: string): boolean {
  const has = (a: string): boolean => (Array.isArray(granted) ? (granted as readonly string[]).includes(a) : (granted as ReadonlySet<string>).has(a));
  return has('*') || has(action);
}

/** The requested actions that the granted ones allow, in the order asked (`*` asked = everything granted). */
export function intersect(requested: readonly string[], granted: ReadonlySet<string>): string[] {
  if (requested.includes('*')) {
    if (granted.has('*')) return ['*'];
    return ALL_ACTIONS.filter((a) => granted.has(a));
  }
  return requested.filter((a) => covers(granted, a));
}
