/**
 * Reads YAML into a plain tree whose scalars are kept as the text that was written (`0123` stays "0123",
 * `0.1` stays "0.1"), the way the reference registry's Go decoder lets each field's type decide what a scalar
 * means. The schema (schema.ts) then turns text into booleans, integers and durations. `~`, `null` and empty
 * values become null. Every node's line is remembered, so a problem can point at the file.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';

export type RawValue = string | null | RawValue[] | { [key: string]: RawValue };
export type RawTree = { [key: string]: RawValue };

export interface YamlProblem {
  message: string;
  line?: number;
}

export interface ParsedYaml {
  value: RawValue | undefined;
  problems: YamlProblem[];
  /** The 1-based line where the node at this dotted path starts. */
  lines: Map<string, number>;
}

export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const problems: YamlProblem[] = [...doc.errors, ...doc.warnings].map((e) => ({
    message: e.message.split('\n')[0]!,
    ...(e.pos ? { line: lineCounter.linePos(e.pos[0]).line } : {}),
  }));
  const lines = new Map<string, number>();
  if (doc.errors.length > 0) return { value: undefined, problems, lines };
  const value = doc.contents === null ? undefined : convert(doc, doc.contents as Node, [], lines, lineCounter, problems);
  return { value, problems, lines };
}

function convert(doc: Document, node: Node, path: string[], lines: Map<string, number>, lc: LineCounter, problems: YamlProblem[]): RawValue {
  if (node.range) lines.set(path.join('.'), lc.linePos(node.range[0]).line);
  if (isAlias(node)) {
    const target = node.resolve(doc);
    return target ? convert(doc, target as Node, path, lines, lc, problems) : null;
  }
  if (isScalar(node)) return scalarText(node);
  if (isSeq(node)) return node.items.map((item, i) => convert(doc, item as Node, [...path, String(i)], lines, lc, problems));
  if (isMap(node)) {
    const out: RawTree = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? scalarText(pair.key) : null;
      if (key === null) {
        problems.push({ message: `${path.join('.') || '(top level)'}: keys must be plain strings`, ...(pair.key && (pair.key as Node).range ? { line: lc.linePos((pair.key as Node).range![0]).line } : {}) });
        continue;
      }
      const keyPath = [...path, key];
      out[key] = pair.value === null || pair.value === undefined ? null : convert(doc, pair.value as Node, keyPath, lines, lc, problems);
      // Point at the key rather than at its value (which may start on a later line).
      if (pair.key && (pair.key as Node).range) lines.set(keyPath.join('.'), lc.linePos((pair.key as Node).range![0]).line);
    }
    return out;
  }
  return null;
}

function scalarText(node: Scalar): string | null {
  if (node.value === null || node.value === undefined) return null;
  if (node.type === Scalar.PLAIN && typeof node.source === 'string') return node.source;
  return String(node.value);
}

/**
 * Parses the value of one REGISTRY_* variable. A YAML collection (`[a, b]`, `{enabled: true}`) or a quoted
 * scalar is read as YAML; anything else is taken literally, so a secret holding `#` or `: ` stays whole.
 */
export function parseEnvValue(text: string): RawValue {
  const trimmed = text.trim();
  if (!/^[[{"']/.test(trimmed)) return text;
  const parsed = parseYaml(text);
  if (parsed.problems.length > 0 || parsed.value === undefined) return text;
  return parsed.value;
}
