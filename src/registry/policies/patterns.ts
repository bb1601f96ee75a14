/**
 * Name patterns for policies: `*` matches within one path component, `**` matches across components,
 * everything else is literal. `team/*` matches `team/app` but not `team/a/b`; `team/**` matches both.
 */
export function compilePattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') {
      source += '[^/]*';
    } else {
      source += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

export function matches(pattern: string | RegExp, value: string): boolean {
  return (typeof pattern === 'string' ? compilePattern(pattern) : pattern).test(value);
}
