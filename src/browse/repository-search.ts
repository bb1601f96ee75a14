/**
 * Searching, sorting and paging repository summaries (pure). A query is words separated by spaces, all
 * of which must match:
 *
 * - `label:KEY` / `label:KEY=VALUE`: a tagged image's config label (value compared case-insensitively);
 * - `annotation:KEY` / `annotation:KEY=VALUE`: a tagged manifest's annotation;
 * - any other word: part of the repository name, or of a label's or annotation's value.
 */
import type { RepositorySummary, SearchableMetadata } from './browse-index.ts';

export const SORT_KEYS = ['name', 'lastPush', 'size', 'tags'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface RepositoryQuery {
  q: string;
  sort: SortKey;
  order: 'asc' | 'desc';
  offset: number;
  limit: number;
}

interface Term {
  kind: 'text' | 'label' | 'annotation';
  key?: string;
  value?: string;
}

export function parseTerms(q: string): Term[] {
  return q
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((word): Term => {
      const m = /^(label|annotation):([^=]+)(?:=(.*))?$/i.exec(word);
      if (!m) return { kind: 'text', value: word.toLowerCase() };
      return { kind: m[1]!.toLowerCase() as 'label' | 'annotation', key: m[2]!, ...(m[3] !== undefined ? { value: m[3].toLowerCase() } : {}) };
    });
}

function matches(term: Term, name: string, meta: SearchableMetadata | undefined): boolean {
  const pairs = term.kind === 'label' ? (meta?.labels ?? []) : term.kind === 'annotation' ? (meta?.annotations ?? []) : [];
  if (term.kind === 'text') {
    const v = term.value!;
    return name.includes(v) || [...(meta?.labels ?? []), ...(meta?.annotations ?? [])].some(([, value]) => value.toLowerCase().includes(v));
  }
  return pairs.some(([k, value]) => k === term.key && (term.value === undefined || value.toLowerCase() === term.value));
}

export function searchRepositories(
  all: RepositorySummary[],
  metadata: Map<string, SearchableMetadata>,
  query: RepositoryQuery,
): { total: number; items: RepositorySummary[] } {
  const terms = parseTerms(query.q);
  const found = terms.length === 0 ? [...all] : all.filter((r) => terms.every((t) => matches(t, r.name, metadata.get(r.name))));
  const sign = query.order === 'asc' ? 1 : -1;
  const byName = (a: RepositorySummary, b: RepositorySummary): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const key = (r: RepositorySummary): number =>
    query.sort === 'lastPush' ? (r.lastPushAt?.getTime() ?? 0) : query.sort === 'size' ? r.sizeBytes : r.tagCount;
  found.sort((a, b) => (query.sort === 'name' ? sign * byName(a, b) : sign * (key(a) - key(b)) || byName(a, b)));
  return { total: found.length, items: found.slice(query.offset, query.offset + query.limit) };
}

/** Whether the query needs labels and annotations at all (names alone are cheaper). */
export function needsMetadata(q: string): boolean {
  return parseTerms(q).length > 0;
}
