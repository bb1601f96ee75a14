import { splitWords, type ParsedDockerfile } from './parse-dockerfile.ts';

/** Values of the ARGs declared before the first FROM (defaults, overridden by build args): for FROM lines. */
export function globalArgValues(dockerfile: ParsedDockerfile, buildArgs: Record<string, string>): Map<string, string> {
  const vars = new Map<string, string>();
  for (const i of dockerfile.globalArgs) {
    for (const word of splitWords(i.args, dockerfile.escape)) {
      const eq = word.indexOf('=');
      const name = eq === -1 ? word : word.slice(0, eq);
      const value = buildArgs[name] ?? (eq === -1 ? undefined : expandVariables(word.slice(eq + 1), vars, dockerfile.escape));
      if (value !== undefined) vars.set(name, value);
    }
  }
  return vars;
}

/**
 * Dockerfile variable expansion: `$name`, `${name}`, `${name:-default}`, `${name:+alternative}`, with the
 * escape character keeping a `$` literal. Undefined variables expand to nothing, as in Docker.
 */
export function expandVariables(text: string, vars: ReadonlyMap<string, string>, escape = '\\'): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && text[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    if (c !== '$') {
      out += c;
      continue;
    }
    if (text[i + 1] === '{') {
      const end = text.indexOf('}', i + 2);
      if (end === -1) {
        out += text.slice(i);
        break;
      }
      const inner = text.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(inner);
      if (!m) {
        out += text.slice(i, end + 1);
      } else {
        const value = vars.get(m[1]!);
        const set = value !== undefined && value !== '';
        if (m[2] === '-') out += set ? value : expandVariables(m[3]!, vars, escape);
        else if (m[2] === '+') out += set ? expandVariables(m[3]!, vars, escape) : '';
        else out += value ?? '';
      }
      i = end;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) {
      out += '$';
      continue;
    }
    out += vars.get(m[0]) ?? '';
    i += m[0].length;
  }
  return out;
}
