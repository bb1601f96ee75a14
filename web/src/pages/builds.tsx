// Automated builds (admins): definitions (with "upload a context" to build one now) and the history, refreshed
// every two seconds (`#/builds?repository=R` narrows both to one repository); `#/builds/<id>` is one build with
// its log, streamed from `builds/{id}/logs?follow=1` as the build writes it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { API, api, csrfHeaders, enc, ApiError, type Session } from '../api.ts';
import { TERMINAL, type Build, type BuildDefinition } from '../automation.ts';
import { ErrorNote, KeyValues, Loading, TableRegion } from '../components/common.tsx';
import { ago, dateTime, shortDigest } from '../format.ts';
import { navigate } from '../router.ts';

const REFRESH_MS = 2000;

function duration(ms: number | null): string {
  return ms === null ? '—' : ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function BuildHistory({ repository }: { repository?: string }) {
  const [builds, setBuilds] = useState<Build[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      api<{ builds: Build[] }>(`builds?limit=50${repository ? `&repository=${enc(repository)}` : ''}`)
        .then((b) => !stopped && (setBuilds(b.builds), setError(null)))
        .catch((e: unknown) => !stopped && setError(e));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [repository]);
  if (!builds) return error ? <ErrorNote error={error} /> : <Loading what="the build history" />;
  if (builds.length === 0) return <p class="muted">No builds yet.</p>;
  return (
    <TableRegion label="Build history">
      <table class="data" data-testid="build-table">
        <thead>
          <tr>
            <th scope="col">Build</th>
            <th scope="col">Repository</th>
            <th scope="col">Status</th>
            <th scope="col">Source</th>
            <th scope="col">Tags</th>
            <th scope="col" class="num">Duration</th>
            <th scope="col">Queued</th>
          </tr>
        </thead>
        <tbody>
          {builds.map((b) => (
            <tr key={b.id}>
              <th scope="row">
                <a href={`#/builds/${b.id}`} aria-label={`Build ${b.id.slice(0, 8)} of ${b.repository}`}>
                  {b.id.slice(0, 8)}
                </a>
              </th>
              <td>{b.repository}</td>
              <td>
                <span class={`status status-${b.status}`}>{b.status}</span>
              </td>
              <td>{b.archive ? 'uploaded context' : `${b.sourceType} ${b.sourceName}${b.commit ? ` @ ${b.commit.slice(0, 8)}` : ''}`}</td>
              <td>{b.tags.join(', ')}</td>
              <td class="num">{duration(b.durationMs)}</td>
              <td>
                <time dateTime={b.queuedAt} title={dateTime(b.queuedAt)}>
                  {ago(b.queuedAt)}
                </time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableRegion>
  );
}

/** Posts a tar or tar.gz file as the definition's build context; resolves with the build started. */
async function uploadContext(definition: string, file: File, tag: string): Promise<Build> {
  const gzip = /\.(tgz|gz)$/i.test(file.name);
  const res = await fetch(`${API}builds/definitions/${enc(definition)}/context?tag=${enc(tag)}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': gzip ? 'application/gzip' : 'application/x-tar', Accept: 'application/json', ...csrfHeaders() },
    body: file,
  });
  const body = (await res.json().catch(() => null)) as { builds?: Build[]; errors?: Array<{ code: string; message: string }> } | null;
  if (!res.ok || !body?.builds?.[0]) throw new ApiError(res.status, body?.errors?.[0]?.code ?? 'ERROR', body?.errors?.[0]?.message ?? res.statusText);
  return body.builds[0];
}

function UploadForm({ definitions }: { definitions: BuildDefinition[] }) {
  const [definition, setDefinition] = useState(definitions[0]?.id ?? '');
  const [tag, setTag] = useState('latest');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  return (
    <form
      class="stack"
      onSubmit={(e) => {
        e.preventDefault();
        const file = fileInput.current?.files?.[0];
        if (!file) return;
        setBusy(true);
        setError(null);
        uploadContext(definition, file, tag)
          .then((b) => navigate(`/builds/${b.id}`))
          .catch((err: unknown) => setError(err))
          .finally(() => setBusy(false));
      }}
    >
      <label for="build-definition">Definition</label>
      <select id="build-definition" value={definition} onChange={(e) => setDefinition(e.currentTarget.value)}>
        {definitions.map((d) => (
          <option key={d.id} value={d.id}>
            {d.id} → {d.repository}
          </option>
        ))}
      </select>
      <label for="build-context">Context archive (.tar or .tar.gz)</label>
      <input id="build-context" type="file" required accept=".tar,.tgz,.gz,application/x-tar,application/gzip" ref={fileInput} />
      <label for="build-tag">Tag</label>
      <input id="build-tag" required value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
      <ErrorNote error={error} />
      <button type="submit" disabled={busy}>
        {busy ? 'Uploading…' : 'Upload and build'}
      </button>
    </form>
  );
}

export function BuildDefinitions({ repository, definitions }: { repository?: string; definitions: BuildDefinition[] }) {
  const shown = repository ? definitions.filter((d) => d.repository === repository) : definitions;
  if (shown.length === 0) return <p class="muted">No build definitions.</p>;
  return (
    <TableRegion label="Build definitions">
      <table class="data" data-testid="definition-table">
        <thead>
          <tr>
            <th scope="col">Definition</th>
            <th scope="col">Repository</th>
            <th scope="col">Source</th>
            <th scope="col">Builder</th>
            <th scope="col">Rules</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => (
            <tr key={d.id}>
              <th scope="row">{d.id}</th>
              <td>{d.repository}</td>
              <td class="break">{d.source ? <code>{d.source.url}</code> : 'uploaded contexts only'}</td>
              <td>{d.builder ?? 'auto'}</td>
              <td>{(d.rules ?? []).map((r) => `${r.sourceType} ${r.sourceName} → ${r.dockerTag}`).join('; ') || '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableRegion>
  );
}

/** One build: its figures, refreshed until it ends, and its log as it is written. */
function BuildPage({ id }: { id: string }) {
  const [build, setBuild] = useState<Build | null>(null);
  const [log, setLog] = useState('');
  const [streaming, setStreaming] = useState(true);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      api<Build>(`builds/${enc(id)}`)
        .then((b) => {
          if (stopped) return;
          setBuild(b);
          if (TERMINAL.includes(b.status)) clearInterval(timer);
        })
        .catch((e: unknown) => !stopped && setError(e));
    };
    const timer = setInterval(load, 1000);
    load();
    const abort = new AbortController();
    void (async () => {
      try {
        const res = await fetch(`${API}builds/${enc(id)}/logs?follow=1`, { credentials: 'same-origin', signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`the log: HTTP ${res.status}`);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          setLog((l) => l + value);
        }
        load(); // the log ends with the build
      } catch (e) {
        if (!abort.signal.aborted) setError(e);
      } finally {
        if (!abort.signal.aborted) setStreaming(false);
      }
    })();
    return () => {
      stopped = true;
      clearInterval(timer);
      abort.abort();
    };
  }, [id]);
  if (!build) return error ? <ErrorNote error={error} /> : <Loading what="the build" />;
  return (
    <section>
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href="#/builds">Builds</a> / <span aria-current="page">{id.slice(0, 8)}</span>
      </nav>
      <h1>
        Build {id.slice(0, 8)} of {build.repository}
      </h1>
      <p class="figures" role="status" aria-live="polite">
        <span data-testid="build-status" class={`status status-${build.status}`}>
          {build.status}
        </span>
        <span>{duration(build.durationMs)}</span>
        {build.builder ? <span>{build.builder} builder</span> : null}
      </p>
      {TERMINAL.includes(build.status) ? null : (
        <p>
          <button type="button" class="danger small" onClick={() => void api<Build>(`builds/${enc(id)}/cancel`, { method: 'POST' }).then(setBuild).catch((e: unknown) => setError(e))}>
            Cancel build
          </button>
        </p>
      )}
      <ErrorNote error={error ?? build.error} />
      <KeyValues
        label="Build"
        entries={[
          ['Definition', build.definition],
          ['Source', build.archive ? `uploaded context ${shortDigest(build.archive)}` : `${build.sourceType} ${build.sourceName}`],
          ...(build.archive ? [] : ([['Commit', build.commit ?? '—']] as Array<[string, string]>)),
          ['Tags', build.tags.join(', ')],
          ['Digest', build.digest ? <a href={`#/repositories/${build.repository}/manifests/${build.digest}`}>{shortDigest(build.digest)}</a> : '—'],
          ['Queued', dateTime(build.queuedAt)],
          ...(build.cause ? ([['Cause', build.cause]] as Array<[string, string]>) : []),
        ]}
      />
      <h2>Log {streaming ? <span class="muted">(live)</span> : null}</h2>
      <pre class="build-log" data-testid="build-log" tabIndex={0} aria-label="Build log">
        {log || ' '}
      </pre>
    </section>
  );
}

export function BuildsPage({ route }: { session: Session; route: string }) {
  const [path, query] = route.split('?');
  const one = /^\/builds\/([0-9a-f-]{36})$/.exec(path!);
  const repository = new URLSearchParams(query ?? '').get('repository') ?? undefined;
  const [definitions, setDefinitions] = useState<BuildDefinition[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (one) return;
    api<{ definitions: BuildDefinition[] }>('builds/definitions')
      .then((d) => setDefinitions(d.definitions))
      .catch((e: unknown) => setError(e));
  }, [!one]);
  if (one) return <BuildPage key={one[1]} id={one[1]!} />;
  if (!definitions) return error ? <ErrorNote error={error} /> : <Loading what="the builds" />;
  return (
    <section>
      <h1>Builds{repository ? ` of ${repository}` : ''}</h1>
      {repository ? (
        <p>
          <a href="#/builds">All builds</a>
        </p>
      ) : null}
      <h2>Definitions</h2>
      <BuildDefinitions definitions={definitions} {...(repository ? { repository } : {})} />
      {definitions.length > 0 ? (
        <>
          <h2>Build an uploaded context</h2>
          <UploadForm definitions={repository ? definitions.filter((d) => d.repository === repository) : definitions} />
        </>
      ) : null}
      <h2>History</h2>
      <BuildHistory {...(repository ? { repository } : {})} />
    </section>
  );
}
