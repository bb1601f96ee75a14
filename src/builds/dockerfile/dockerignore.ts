/**
 * `.dockerignore` matching, as Docker's builder applies it: one pattern per line, `#` comments, `!` for
 * exceptions, the last matching pattern wins; `*` and `?` stay within a path segment, `**` spans any number
 * of segments; a pattern that matches a directory excludes everything under it (unless an exception
 * re-includes something). Paths are relative to the context, with `/` separators.
 */
export interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
}

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      re += `\\${pattern[++i]}`;
    } else {
      re += c.replace(/[.+^${}()|\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

/** Cleans a pattern like Go's filepath.Clean: no leading `/` or `./`, no `//`, no trailing `/`. */
function clean(pattern: string): string {
  const parts: string[] = [];
  for (const part of pattern.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const pattern = clean(line);
    if (pattern === '') continue;
    rules.push({ negate, regex: globToRegExp(pattern) });
  }
  return rules;
}

/** True when the path (or one of its parent directories) is excluded by the rules. */
export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  if (rules.length === 0) return false;
  const segments = path.split('/');
  let ignored = false;
  for (const rule of rules) {
    let matched = false;
    for (let n = 1; n <= segments.length && !matched; n++) matched = rule.regex.test(segments.slice(0, n).join('/'));
    if (matched) ignored = !rule.negate;
  }
  return ignored;
}
