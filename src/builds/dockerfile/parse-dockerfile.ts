/**
 * Parses a Dockerfile into stages of instructions, the way Docker's frontend reads one: parser directives
 * (`# escape=`), comments, line continuations, JSON (exec) form versus shell form, and flags (`--from=…`).
 * Variables are NOT expanded here: that depends on the stage's ARG/ENV state at each line, so the builder
 * expands them (expand-variables.ts) as it walks the instructions. Every builder uses this parser, so an
 * unsupported instruction can be named before a build starts.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, COPY, RUN, … */
  keyword: string;
  /** `--name=value` flags before the arguments (COPY --from=…, --chown=…, FROM --platform=…). */
  flags: Record<string, string>;
  /** The arguments after the flags, as written (one logical line, continuations joined). */
  args: string;
  /** The arguments as a JSON string array when written in exec form, else undefined. */
  json?: string[];
  /** The whole logical line as written (for image history and error messages). */
  original: string;
  /** 1-based line where the instruction starts. */
  line: number;
}

export interface Stage {
  /** The FROM instruction's image reference (unexpanded). */
  from: string;
  /** `AS name`, lower-cased, when given. */
  name?: string;
  /** `FROM --platform=…`, when given. */
  platform?: string;
  index: number;
  fromInstruction: Instruction;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  /** ARG instructions before the first FROM (they may be used in FROM lines). */
  globalArgs: Instruction[];
  stages: Stage[];
  escape: string;
}

export class DockerfileError extends Error {
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(line !== undefined ? `Dockerfile line ${line}: ${message}` : `Dockerfile: ${message}`);
  }
}

const KNOWN = new Set([
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER',
  'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
]);

/** Reads `# directive=value` lines at the very top of the file. */
function parseDirectives(lines: string[]): { escape: string; consumed: number } {
  let escape = '\\';
  let consumed = 0;
  for (const line of lines) {
    const m = /^\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw new DockerfileError(`invalid escape directive ${JSON.stringify(m[2])}: use \\ or \``, consumed + 1);
      escape = m[2]!;
    } else if (key !== 'syntax' && key !== 'check') {
      break;
    }
    consumed++;
  }
  return { escape, consumed };
}

/** Joins continuation lines and drops comments and blank lines: one entry per logical line. */
function logicalLines(text: string): { lines: Array<{ text: string; line: number }>; escape: string } {
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const { escape } = parseDirectives(raw);
  const out: Array<{ text: string; line: number }> = [];
  let current: string | undefined;
  let start = 0;
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!;
    const trimmed = line.trim();
    if (current === undefined && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current !== undefined && trimmed.startsWith('#')) continue; // comments inside a continued instruction
    if (current === undefined) start = i + 1;
    const continued = line.replace(/\s+$/, '').endsWith(escape);
    const body = continued ? line.replace(/\s+$/, '').slice(0, -1) : line;
    current = current === undefined ? body : `${current}${body}`;
    if (!continued) {
      if (current.trim() !== '') out.push({ text: current.trim(), line: start });
      current = undefined;
    }
  }
  if (current !== undefined && current.trim() !== '') out.push({ text: current.trim(), line: start });
  return { lines: out, escape };
}

function parseFlags(rest: string, line: number): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let args = rest;
  for (;;) {
    const m = /^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\S*))?(?:\s+|$)/.exec(args);
    if (!m) break;
    if (m[2] === undefined) {
      // boolean flags such as COPY --link are accepted and recorded as "true"
      flags[m[1]!.toLowerCase()] = 'true';
    } else {
      flags[m[1]!.toLowerCase()] = m[2];
    }
    args = args.slice(m[0].length);
  }
  if (args.startsWith('--') && !/^--\s/.test(args)) throw new DockerfileError(`malformed flag in ${JSON.stringify(rest.slice(0, 80))}`, line);
  return { flags, args: args.trim() };
}

function parseJsonForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(args);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  } catch {
    // not JSON: shell form, as Docker does
  }
  return undefined;
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const { lines, escape } = logicalLines(text);
  const globalArgs: Instruction[] = [];
  const stages: Stage[] = [];
  for (const { text: lineText, line } of lines) {
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(lineText)!;
    const keyword = m[1]!.toUpperCase();
    if (!KNOWN.has(keyword)) throw new DockerfileError(`unknown instruction ${m[1]!.slice(0, 40)}`, line);
    const rest = (m[2] ?? '').trim();
    if (/<<-?["']?[A-Za-z_]/.test(rest) && (keyword === 'RUN' || keyword === 'COPY' || keyword === 'ADD')) {
      throw new DockerfileError(`${keyword} with a here-document is not supported`, line);
    }
    const { flags, args } = keyword === 'FROM' || keyword === 'COPY' || keyword === 'ADD' || keyword === 'RUN' || keyword === 'HEALTHCHECK' ? parseFlags(rest, line) : { flags: {}, args: rest };
    const json = parseJsonForm(args);
    const instruction: Instruction = { keyword, flags, args, ...(json ? { json } : {}), original: lineText, line };
    if (keyword === 'FROM') {
      const parts = args.split(/\s+/);
      if (parts.length !== 1 && !(parts.length === 3 && parts[1]!.toUpperCase() === 'AS')) throw new DockerfileError('FROM takes an image and optionally AS name', line);
      if (parts[0] === '') throw new DockerfileError('FROM needs an image', line);
      const name = parts[2]?.toLowerCase();
      if (name !== undefined && !/^[a-z][a-z0-9._-]*$/.test(name)) throw new DockerfileError(`invalid stage name ${JSON.stringify(name)}`, line);
      stages.push({
        from: parts[0]!,
        ...(name !== undefined ? { name } : {}),
        ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
        index: stages.length,
        fromInstruction: instruction,
        instructions: [],
      });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (!stage) {
      if (keyword !== 'ARG') throw new DockerfileError(`${keyword} before the first FROM (only ARG may come before it)`, line);
      globalArgs.push(instruction);
      continue;
    }
    stage.instructions.push(instruction);
  }
  if (stages.length === 0) throw new DockerfileError('no FROM instruction');
  return { globalArgs, stages, escape };
}

/** Splits shell-form words, honouring double and single quotes (for EXPOSE, VOLUME, COPY sources, …). */
export function splitWords(text: string, escape = '\\'): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && quote !== "'" && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (quote) {
      if (c === quote) quote = undefined;
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new DockerfileError(`unterminated quote in ${JSON.stringify(text.slice(0, 80))}`);
  if (inWord) words.push(current);
  return words;
}

/** `key=value key2="v 2"` pairs (ENV, LABEL, ARG); the legacy `ENV key value` form too. */
export function parseKeyValues(args: string, keyword: string, line: number, escape = '\\'): Array<[string, string]> {
  const words = splitWords(args, escape);
  if (words.length === 0) throw new DockerfileError(`${keyword} needs at least one argument`, line);
  if (!words[0]!.includes('=')) {
    if (keyword === 'ARG') return words.length === 1 ? [[words[0]!, '']] : (() => { throw new DockerfileError('ARG takes name or name=value', line); })();
    // legacy form: ENV key the rest of the line
    const m = /^(\S+)\s+([\s\S]*)$/.exec(args.trim());
    if (!m) throw new DockerfileError(`${keyword} ${words[0]} needs a value`, line);
    return [[m[1]!, splitWords(m[2]!, escape).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) {
      if (keyword === 'ARG' && eq === -1) return [w, ''];
      throw new DockerfileError(`${keyword}: expected key=value, not ${JSON.stringify(w.slice(0, 60))}`, line);
    }
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}
