// The repository list: search (name, label:KEY=VALUE, annotation:KEY=VALUE), sort and pages of 50 from the
// server, so it stays fast with thousands of repositories. The search and page live in the URL (#/?q=…).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type RepositoryRow } from '../api.ts';
import { ErrorNote, Loading, TableRegion } from '../components/common.tsx';
import { ago, bytes, dateTime } from '../format.ts';
import { links, navigate } from '../router.ts';

const PAGE = 50;
const SORTS = [
  ['lastPush', 'Last push'],
  ['name', 'Name'],
  ['size', 'Size'],
  ['tags', 'Tag count'],
] as const;

interface Listing {
  total: number;
  repositories: RepositoryRow[];
}

let firstRender = true;

export function RepositoriesPage({ route }: { route: string }) {
  const params = new URLSearchParams(route.includes('?') ? route.slice(route.indexOf('?') + 1) : '');
  const q = params.get('q') ?? '';
  const sort = params.get('sort') ?? 'lastPush';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const [text, setText] = useState(q);
  const [listing, setListing] = useState<Listing | null>(null);
  const [error, setError] = useState<unknown>(null);
  const debounce = useRef<number | undefined>(undefined);

  const go = (next: { q?: string; sort?: string; page?: number }): void => {
    const p = new URLSearchParams();
    const nq = next.q ?? q;
    const ns = next.sort ?? sort;
    const np = next.page ?? 1;
    if (nq) p.set('q', nq);
    if (ns !== 'lastPush') p.set('sort', ns);
    if (np > 1) p.set('page', String(np));
    const s = p.toString();
    navigate(s ? `/?${s}` : '/');
  };

  // A pending search must not navigate away from the page the user went to meanwhile.
  useEffect(() => () => clearTimeout(debounce.current), []);

  useEffect(() => {
    let current = true;
    const query = new URLSearchParams({ q, sort, offset: String((page - 1) * PAGE), limit: String(PAGE) });
    api<Listing>(`repositories?${query}`)
      .then((l) => {
        if (!current) return;
        setListing(l);
        setError(null);
      })
      .catch((e: unknown) => current && setError(e));
    return () => {
      current = false;
    };
  }, [q, sort, page]);

  useEffect(() => {
    if (listing && firstRender) {
      firstRender = false;
      // For the end-to-end test's time-to-interactive measurement (from navigation start).
      performance.mark('pier:repositories-ready');
    }
  }, [listing]);

  const pages = listing ? Math.max(1, Math.ceil(listing.total / PAGE)) : 1;
  return (
    <section>
      <h1>Repositories</h1>
      <form class="toolbar" role="search" onSubmit={(e) => { e.preventDefault(); go({ q: text }); }}>
        <div class="field grow">
          <label for="repo-search">Search</label>
          <input
            id="repo-search"
            type="search"
            value={text}
            placeholder="name, label:org.opencontainers.image.title=app, annotation:…"
            aria-describedby="search-help"
            onInput={(e) => {
              const value = e.currentTarget.value;
              setText(value);
              clearTimeout(debounce.current);
              debounce.current = window.setTimeout(() => go({ q: value }), 250);
            }}
          />
          <small id="search-help" class="muted">
            Matches names, label and annotation values; <code>label:KEY=VALUE</code> and <code>annotation:KEY=VALUE</code> match exactly.
          </small>
        </div>
        <div class="field">
          <label for="repo-sort">Sort by</label>
          <select id="repo-sort" value={sort} onChange={(e) => go({ sort: e.currentTarget.value })}>
            {SORTS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote error={error} />
      {!listing ? (
        <Loading what="repositories" />
      ) : (
        <>
          <p class="muted" role="status" aria-live="polite">
            {listing.total === 0
              ? 'No repository matches.'
              : `Showing ${(page - 1) * PAGE + 1}–${Math.min(page * PAGE, listing.total)} of ${listing.total} repositories`}
          </p>
          <TableRegion label="Repositories">
            <table class="data" data-testid="repository-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" class="num">Tags</th>
                  <th scope="col" class="num">Size</th>
                  <th scope="col">Last push</th>
                </tr>
              </thead>
              <tbody>
                {listing.repositories.map((r) => (
                  <tr key={r.name}>
                    <th scope="row">
                      <a href={links.repository(r.name)}>{r.name}</a>
                    </th>
                    <td class="num">{r.tagCount}</td>
                    <td class="num">{bytes(r.sizeBytes)}</td>
                    <td>
                      <time dateTime={r.lastPushAt ?? undefined} title={dateTime(r.lastPushAt)}>
                        {ago(r.lastPushAt)}
                      </time>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
          {pages > 1 ? (
            <nav class="pager" aria-label="Pages">
              <button type="button" class="secondary" disabled={page <= 1} onClick={() => go({ page: page - 1 })}>
                Previous
              </button>
              <span>
                Page {page} of {pages}
              </span>
              <button type="button" class="secondary" disabled={page >= pages} onClick={() => go({ page: page + 1 })}>
                Next
              </button>
            </nav>
          ) : null}
        </>
      )}
    </section>
  );
}
