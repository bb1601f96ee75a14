/**
 * Renders the templates of Pier's Helm chart (deploy/helm/pier) for tests, without helm: no helm binary and
 * no maintained JavaScript implementation of Helm's template engine exist here, so this evaluates the small
 * subset of Go templates the chart is written in, with Go's meaning, and REFUSES anything else — the
 * chart cannot drift outside what is checked. The subset (also listed in the chart's README):
 *
 * - text, `{{ … }}` actions, `{{-` / `-}}` trimming of the whitespace beside them, `{{/* comments *\/}}`;
 * - values: `.`, `.Values.a.b`, `.Release.Name`, `.Release.Namespace`, `.Chart.Name|Version|AppVersion`,
 *   "strings", numbers, `true`/`false`;
 * - pipelines `x | f a` (the piped value is the last argument, as in Go);
 * - `if` / `else if` / `else` / `end` (Go's truth: false, 0, "", empty list or map, missing are false);
 * - `define "name"` … `end` and `include "name" .`;
 * - functions: quote, toYaml, nindent, indent, default, required, not, eq, ne, and, or.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

type Value = unknown;
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipeline: string }
  | { kind: 'if'; branches: Array<{ cond: string | undefined; body: Node[] }> }
  | { kind: 'define'; name: string; body: Node[] };

interface Token {
  text?: string;
  action?: string;
}

/** Splits a template into text and actions, applying the trim markers. */
function tokenize(source: string, file: string): Token[] {
  const tokens: Token[] = [];
  let rest = source;
  while (rest.length > 0) {
    const open = rest.indexOf('{{');
    if (open < 0) {
      tokens.push({ text: rest });
      break;
    }
    let text = rest.slice(0, open);
    const close = rest.indexOf('}}', open);
    if (close < 0) throw new Error(`${file}: unclosed action`);
    let inner = rest.slice(open + 2, close);
    if (inner.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    let trimAfter = false;
    if (inner.endsWith('-')) {
      trimAfter = true;
      inner = inner.slice(0, -1);
    }
    if (text) tokens.push({ text });
    tokens.push({ action: inner.trim() });
    rest = rest.slice(close + 2);
    if (trimAfter) rest = rest.replace(/^\s+/, '');
  }
  return tokens;
}

function parse(tokens: Token[], file: string): Node[] {
  let i = 0;
  const block = (stops: RegExp): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++]!;
      if (t.text !== undefined) {
        nodes.push({ kind: 'text', text: t.text });
        continue;
      }
      const a = t.action!;
      if (a.startsWith('/*')) continue;
      if (stops.test(a)) return { nodes, stop: a };
      if (a.startsWith('if ')) {
        const branches: Array<{ cond: string | undefined; body: Node[] }> = [];
        let cond: string | undefined = a.slice(3);
        for (;;) {
          const { nodes: body, stop } = block(/^(else( if .*)?|end)$/);
          branches.push({ cond, body });
          if (stop === 'end') break;
          if (stop === 'else') cond = undefined;
          else cond = stop.slice('else if '.length);
        }
        nodes.push({ kind: 'if', branches });
      } else if (a.startsWith('define ')) {
        const name = JSON.parse(a.slice('define '.length)) as string;
        nodes.push({ kind: 'define', name, body: block(/^end$/).nodes });
      } else if (/^(range|with|template|block|end|else)\b/.test(a) || /[$()]/.test(a.replace(/"(?:[^"\\]|\\.)*"/g, '""'))) {
        throw new Error(`${file}: "{{ ${a} }}" is outside the template subset this renderer checks`);
      } else {
        nodes.push({ kind: 'action', pipeline: a });
      }
    }
    if (stops.source !== '$^') throw new Error(`${file}: missing {{ end }}`);
    return { nodes, stop: '' };
  };
  return block(/$^/).nodes;
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Splits an argument list on spaces outside "strings". */
function words(command: string): string[] {
  return command.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
}

export interface ChartContext {
  Values: Record<string, unknown>;
  Release: { Name: string; Namespace: string };
  Chart: { Name: string; Version: string; AppVersion: string };
}

export class ChartRenderer {
  private readonly defines = new Map<string, Node[]>();

  constructor(private readonly templates: Map<string, Node[]>) {
    for (const nodes of templates.values()) for (const n of nodes) if (n.kind === 'define') this.defines.set(n.name, n.body);
  }

  /** Loads every file of `<chart>/templates` (`_*.tpl` for definitions). */
  static load(chartDir: string): ChartRenderer {
    const dir = join(chartDir, 'templates');
    const templates = new Map<string, Node[]>();
    for (const file of readdirSync(dir).sort()) templates.set(file, parse(tokenize(readFileSync(join(dir, file), 'utf8'), file), file));
    return new ChartRenderer(templates);
  }

  /** Each manifest template (not `_*` or NOTES.txt) rendered with `context`. */
  render(context: ChartContext): Map<string, string> {
    const out = new Map<string, string>();
    for (const [file, nodes] of this.templates) {
      if (file.startsWith('_') || file === 'NOTES.txt') continue;
      out.set(file, this.run(nodes, context, file));
    }
    return out;
  }

  private run(nodes: Node[], dot: Value, file: string): string {
    let out = '';
    for (const n of nodes) {
      if (n.kind === 'text') out += n.text;
      else if (n.kind === 'define') continue;
      else if (n.kind === 'action') out += format(this.pipeline(n.pipeline, dot, file));
      else {
        const branch = n.branches.find((b) => b.cond === undefined || truthy(this.pipeline(b.cond, dot, file)));
        if (branch) out += this.run(branch.body, dot, file);
      }
    }
    return out;
  }

  private pipeline(source: string, dot: Value, file: string): Value {
    let piped: Value = undefined;
    let first = true;
    for (const command of source.split(/\s+\|\s+/)) {
      const [head, ...rest] = words(command);
      if (head === undefined) throw new Error(`${file}: empty command in "${source}"`);
      const args = rest.map((w) => this.operand(w, dot, file));
      if (!first) args.push(piped);
      if (FUNCTIONS[head] || head === 'include') {
        piped = head === 'include' ? this.include(args, file) : FUNCTIONS[head]!(...args);
      } else {
        if (rest.length > 0 || !first) throw new Error(`${file}: ${head} is not a function of the subset`);
        piped = this.operand(head, dot, file);
      }
      first = false;
    }
    return piped;
  }

  private include(args: Value[], file: string): string {
    const body = this.defines.get(args[0] as string);
    if (!body) throw new Error(`${file}: include of undefined template ${String(args[0])}`);
    return this.run(body, args[1], file);
  }

  private operand(word: string, dot: Value, file: string): Value {
    if (word.startsWith('"')) return JSON.parse(word) as string;
    if (/^-?\d+(\.\d+)?$/.test(word)) return Number(word);
    if (word === 'true' || word === 'false') return word === 'true';
    if (word === '.') return dot;
    if (/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(word)) {
      let v: Value = dot;
      for (const key of word.slice(1).split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, Value>)[key] : undefined;
      return v;
    }
    throw new Error(`${file}: "${word}" is outside the template subset`);
  }
}

/** How Go prints a value into the output: nothing for a missing one. */
function format(v: Value): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const indentLines = (n: number, s: string) => s.split('\n').map((l) => ' '.repeat(n) + l).join('\n');

const FUNCTIONS: Record<string, (...args: Value[]) => Value> = {
  quote: (...args) => args.map((a) => JSON.stringify(format(a))).join(' '),
  // Helm's toYaml drops the final newline.
  toYaml: (v) => (v === undefined || v === null ? 'null' : stringifyYaml(v).replace(/\n$/, '')),
  indent: (n, s) => indentLines(n as number, format(s)),
  nindent: (n, s) => `\n${indentLines(n as number, format(s))}`,
  default: (fallback, v) => (truthy(v) ? v : fallback),
  required: (message, v) => {
    if (v === undefined || v === null || v === '') throw new Error(`required value missing: ${String(message)}`);
    return v;
  },
  not: (v) => !truthy(v),
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  and: (...args) => args.reduce((acc, v) => (truthy(acc) ? v : acc)),
  or: (...args) => args.reduce((acc, v) => (truthy(acc) ? acc : v)),
};

/** The chart's values.yaml, deep-merged with `overrides` (as `helm --values` does: maps merge, the rest replaces). */
export function chartValues(chartDir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
      const current = out[k];
      out[k] = v && typeof v === 'object' && !Array.isArray(v) && current && typeof current === 'object' && !Array.isArray(current)
        ? merge(current as Record<string, unknown>, v as Record<string, unknown>)
        : v;
    }
    return out;
  };
  return merge(base, overrides);
}
