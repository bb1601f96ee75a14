/**
 * Loads the configuration: the file (YAML, the reference registry's format) → REGISTRY_* environment
 * overrides → command-line flags → the schema → cross-key checks. Flags win over the environment, which wins
 * over the file. Every problem is collected with where it came from (`config.yml:12`, `REGISTRY_HTTP_ADDR`,
 * `--addr`) so `pier config check` can report them all at once; keys Pier accepts but does not act on become
 * notices.
 *
 * Environment overrides follow the reference registry: `REGISTRY_A_B_C` sets `a.b.c`; names are matched
 * without regard to case, applied in lexical order (so `REGISTRY_STORAGE` comes before
 * `REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY`), a numeric part indexes a list
 * (`REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL`), and a variable naming no key is ignored with a notice (a
 * Kubernetes service called `registry` injects `REGISTRY_PORT`, `REGISTRY_SERVICE_HOST`, …).
 * REGISTRY_CONFIGURATION_PATH names the file (as for registry:2) and is not an override.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { configSchema, OTHER_STORAGE_DRIVERS, type PierConfig } from './schema.ts';
import { parseEnvValue, parseYaml, type RawTree, type RawValue } from './yaml-source.ts';
import { checkConfig, type ConfigNotice } from './checks.ts';

export type { ConfigNotice };

export interface ConfigProblem {
  /** The dotted key path (`http.tls.minimumtls`), or '' for the whole file. */
  key: string;
  message: string;
  /** Where the value came from: `FILE:LINE`, `FILE`, an environment variable or a flag. */
  where?: string;
}

/** Command-line flags of `pier serve` that map onto configuration keys. */
export interface ServeFlags {
  addr?: string;
  data?: string;
  delete?: boolean;
  logLevel?: string;
  /** Seconds. */
  drainTimeout?: string;
  /** Seconds. */
  shutdownDelay?: string;
  /** Worker processes (Pier-only). */
  workers?: string;
}

export interface LoadOptions {
  /** Path of config.yml; without one, Pier starts from defaults (filesystem storage in ./data). */
  file?: string;
  /** The file's text (tests); read from `file` when absent. */
  text?: string;
  env?: NodeJS.ProcessEnv;
  flags?: ServeFlags;
}

export interface LoadResult {
  /** Present when there are no problems. */
  config?: PierConfig;
  problems: ConfigProblem[];
  notices: ConfigNotice[];
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.where ? `${p.where}: ` : '';
  return `${where}${p.key ? `${p.key}: ` : ''}${p.message}`;
}

const FLAG_KEYS: Record<keyof ServeFlags, { path: string[]; flag: string; value: (v: string | boolean) => RawValue }> = {
  addr: { path: ['http', 'addr'], flag: '--addr', value: String },
  data: { path: ['storage', 'filesystem', 'rootdirectory'], flag: '--data', value: String },
  delete: { path: ['storage', 'delete', 'enabled'], flag: '--delete', value: String },
  logLevel: { path: ['log', 'level'], flag: '--log-level', value: String },
  drainTimeout: { path: ['http', 'draintimeout'], flag: '--drain-timeout', value: secondsFlag },
  shutdownDelay: { path: ['http', 'shutdowndelay'], flag: '--shutdown-delay', value: secondsFlag },
  workers: { path: ['http', 'workers'], flag: '--workers', value: String },
};

function secondsFlag(v: string | boolean): string {
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 && String(v).trim() !== '' ? `${n}s` : String(v);
}

/** Loads and validates; never throws for a bad configuration (see `problems`). */
export function loadConfig(options: LoadOptions = {}): LoadResult {
  const problems: ConfigProblem[] = [];
  const notices: ConfigNotice[] = [];
  const fileName = options.file ?? 'config';
  let tree: RawTree = {};
  let lines = new Map<string, number>();

  if (options.file !== undefined || options.text !== undefined) {
    let text = options.text;
    if (text === undefined) {
      try {
        text = readFileSync(options.file!, 'utf8');
      } catch (error) {
        return { problems: [{ key: '', message: `cannot read the configuration file: ${(error as Error).message}`, where: fileName }], notices };
      }
    }
    const parsed = parseYaml(text);
    lines = parsed.lines;
    for (const p of parsed.problems) problems.push({ key: '', message: `not valid YAML: ${p.message}`, where: p.line ? `${fileName}:${p.line}` : fileName });
    if (parsed.problems.length > 0 && parsed.value === undefined) return { problems, notices };
    if (parsed.value !== undefined && parsed.value !== null) {
      if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
        return { problems: [...problems, { key: '', message: 'expected a map of configuration keys at the top level', where: fileName }], notices };
      }
      tree = parsed.value;
    }
  }

  const sources: Array<{ path: string; where: string }> = [];
  applyEnvironment(tree, options.env ?? {}, sources, notices);
  for (const [name, spec] of Object.entries(FLAG_KEYS) as Array<[keyof ServeFlags, (typeof FLAG_KEYS)[keyof ServeFlags]]>) {
    const value = options.flags?.[name];
    if (value === undefined) continue;
    setPath(tree, spec.path, spec.value(value));
    sources.push({ path: spec.path.join('.'), where: spec.flag });
  }
  if (options.file === undefined && options.text === undefined && tree.storage === undefined) {
    tree.storage = { filesystem: { rootdirectory: './data' } };
  }

  const whereOf = (key: string): string | undefined => {
    let found: { path: string; where: string } | undefined;
    for (const s of sources) if (key === s.path || key.startsWith(`${s.path}.`)) found = s; // the last applied wins
    if (found) return found.where;
    for (let k = key; ; k = k.slice(0, Math.max(0, k.lastIndexOf('.')))) {
      const line = lines.get(k);
      if (line !== undefined) return `${fileName}:${line}`;
      if (!k.includes('.')) break;
    }
    return options.file !== undefined || options.text !== undefined ? fileName : undefined;
  };

  let result = configSchema.safeParse(tree);
  // Unknown keys that came only from the environment are dropped with a notice, as the reference does.
  for (let round = 0; !result.success && round < 10; round++) {
    let dropped = false;
    for (const issue of result.error.issues) {
      if (issue.code !== 'unrecognized_keys') continue;
      for (const key of issue.keys) {
        const full = [...issue.path.map(String), key];
        const fullKey = full.join('.');
        const fromEnv = sources.find((s) => s.where.startsWith('REGISTRY_') && (s.path === fullKey || s.path.startsWith(`${fullKey}.`)));
        if (!fromEnv || lines.has(fullKey)) continue;
        deletePath(tree, full);
        dropped = true;
        for (const s of sources.filter((s) => s.path === fullKey || s.path.startsWith(`${fullKey}.`))) {
          notices.push({ key: fullKey, level: 'warn', message: `ignoring environment variable ${s.where}: ${fullKey} is not a configuration key` });
        }
      }
    }
    if (!dropped) break;
    result = configSchema.safeParse(tree);
  }

  if (!result.success) {
    for (const issue of result.error.issues) problems.push(...describeIssue(issue, whereOf));
    return { problems, notices };
  }
  const config = result.data;
  if (config.storage === undefined) {
    problems.push({ key: 'storage', message: 'required: a storage driver section (storage.filesystem)', where: whereOf('storage') });
  }
  for (const p of checkConfig(config, tree, notices)) problems.push({ ...p, where: p.where ?? whereOf(p.key) });
  return problems.length > 0 ? { problems, notices } : { config, problems, notices };
}

/** Loads, validates and throws a ConfigError listing every problem. */
export function loadConfigOrThrow(options: LoadOptions = {}): { config: PierConfig; notices: ConfigNotice[] } {
  const result = loadConfig(options);
  if (!result.config) throw new ConfigError(result.problems);
  return { config: result.config, notices: result.notices };
}

function describeIssue(issue: z.core.$ZodIssue, whereOf: (key: string) => string | undefined): ConfigProblem[] {
  const key = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => {
      const full = key ? `${key}.${k}` : k;
      const known = knownKeysAt(issue.path.map(String));
      const guess = closest(k, known);
      const driver = issue.path.length === 1 && issue.path[0] === 'storage' && (OTHER_STORAGE_DRIVERS as readonly string[]).includes(k);
      const message = driver
        ? 'storage driver not supported by Pier yet'
        : `unknown key${guess ? ` (did you mean ${guess}?)` : ''}`;
      return { key: full, message, where: whereOf(full) };
    });
  }
  return [{ key, message: issue.message, where: whereOf(key) }];
}

/** The keys the schema allows at a path, for "did you mean". */
function knownKeysAt(path: string[]): string[] {
  let schema: unknown = configSchema;
  for (let i = 0; i <= path.length; i++) {
    for (;;) {
      const def = (schema as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
      if (def.type === 'pipe') schema = def.out;
      else if (def.type === 'optional' || def.type === 'default') schema = def.innerType;
      else break;
    }
    const def = (schema as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
    if (i === path.length) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    const segment = path[i]!;
    if (def.type === 'object') schema = (def.shape as Record<string, unknown>)[segment];
    else if (def.type === 'array') schema = def.element;
    else return [];
    if (schema === undefined) return [];
  }
  return [];
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function applyEnvironment(tree: RawTree, env: NodeJS.ProcessEnv, sources: Array<{ path: string; where: string }>, notices: ConfigNotice[]): void {
  const names = Object.keys(env)
    .filter((name) => name.startsWith('REGISTRY_') && name !== 'REGISTRY_CONFIGURATION_PATH' && env[name] !== undefined)
    .sort();
  for (const name of names) {
    const segments = name.slice('REGISTRY_'.length).split('_');
    if (segments.some((s) => s === '')) {
      notices.push({ key: '', level: 'warn', message: `ignoring environment variable ${name}: not a configuration key` });
      continue;
    }
    if (segments.length === 1 && segments[0] === 'VERSION') {
      notices.push({ key: 'version', level: 'warn', message: `ignoring environment variable ${name}: the version cannot be overridden` });
      continue;
    }
    const path = setEnvPath(tree, segments, parseEnvValue(env[name]!));
    if (path === undefined) {
      notices.push({ key: '', level: 'warn', message: `ignoring environment variable ${name}: it names a key inside a value that is not a section` });
      continue;
    }
    sources.push({ path: path.join('.'), where: name });
  }
}

/** Sets a value following REGISTRY_* segments; returns the key path used, or undefined if it cannot be set. */
function setEnvPath(tree: RawTree, segments: string[], value: RawValue): string[] | undefined {
  const path: string[] = [];
  let node: RawTree | RawValue[] = tree;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    let key: string | number;
    if (Array.isArray(node)) {
      if (!/^\d+$/.test(segment) || Number(segment) > node.length) return undefined;
      key = Number(segment);
    } else {
      key = Object.keys(node).find((k) => k.toUpperCase() === segment) ?? segment.toLowerCase();
    }
    path.push(String(key));
    if (last) {
      (node as Record<string | number, RawValue>)[key] = value;
      return path;
    }
    const child: RawValue | undefined = (node as Record<string | number, RawValue>)[key];
    if (child === undefined || child === null) {
      const created: RawTree = {};
      (node as Record<string | number, RawValue>)[key] = created;
      node = created;
    } else if (typeof child === 'object') {
      node = child;
    } else {
      return undefined;
    }
  }
  return undefined;
}

function setPath(tree: RawTree, path: string[], value: RawValue): void {
  let node: RawTree = tree;
  for (const key of path.slice(0, -1)) {
    const child = node[key];
    if (child === null || child === undefined || typeof child !== 'object' || Array.isArray(child)) node[key] = {};
    node = node[key] as RawTree;
  }
  node[path[path.length - 1]!] = value;
}

function deletePath(tree: RawTree, path: string[]): void {
  let node: RawValue = tree;
  for (const key of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string, RawValue>)[key] ?? null;
  }
  if (node !== null && typeof node === 'object') delete (node as Record<string, RawValue>)[path[path.length - 1]!];
}

