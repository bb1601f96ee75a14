// One manifest: what it is, its layers and config (entrypoint, cmd, env, labels, ports, user, history), an
// index's platforms, its referrers (signatures, SBOMs, attestations); delete with confirmation when allowed.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, repoPath, type ManifestDetail } from '../api.ts';
import { ConfirmDialog, ErrorNote, KeyValues, Loading, TableRegion } from '../components/common.tsx';
import { bytes, dateTime, platform, shortDigest } from '../format.ts';
import { links, navigate } from '../router.ts';

const list = (items: string[] | undefined): string => (items && items.length > 0 ? items.join(' ') : '—');

export function ManifestPage({ name, reference }: { name: string; reference: string }) {
  const [m, setM] = useState<ManifestDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [confirming, setConfirming] = useState(false);
  useEffect(() => {
    setM(null);
    api<ManifestDetail>(`${repoPath(name)}/manifests/${encodeURIComponent(reference)}`)
      .then(setM)
      .catch((e: unknown) => setError(e));
  }, [name, reference]);
  if (error) return <ErrorNote error={error} />;
  if (!m) return <Loading what="the manifest" />;
  const c = m.config;
  return (
    <section>
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href={links.repositories()}>Repositories</a> / <a href={links.repository(name)}>{name}</a> / <span aria-current="page">{shortDigest(m.digest)}</span>
      </nav>
      <h1 class="break">
        {name}
        {m.tags.length > 0 ? `:${m.tags[0]}` : `@${shortDigest(m.digest)}`}
      </h1>
      <KeyValues
        label="Manifest"
        entries={[
          ['Digest', <code class="break">{m.digest}</code>],
          ['Kind', m.kind === 'index' ? 'Index (multi-platform)' : m.kind === 'image' ? 'Image' : 'Artifact'],
          ['Media type', <code>{m.mediaType}</code>],
          ...(m.artifactType ? ([['Artifact type', <code>{m.artifactType}</code>]] as Array<[string, ComponentChildren]>) : []),
          ['Tags', m.tags.length > 0 ? m.tags.join(', ') : 'untagged'],
          ['Pushed', `${dateTime(m.pushedAt)}${m.pushedBy ? ` by ${m.pushedBy}` : ''}`],
          ...(m.lastPulledAt ? ([['Last pulled', dateTime(m.lastPulledAt)]] as Array<[string, string]>) : []),
          ...(m.kind === 'image' ? ([['Layers', `${m.layers.length} (${bytes(m.totalLayerBytes)})`]] as Array<[string, string]>) : []),
          ...(m.subject ? ([['Refers to', <a href={links.manifest(name, m.subject)}>{shortDigest(m.subject)}</a>]] as Array<[string, ComponentChildren]>) : []),
        ]}
      />
      {m.canDelete ? (
        <p>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Delete manifest
          </button>
        </p>
      ) : null}

      {m.kind === 'index' ? (
        <>
          <h2>Platforms</h2>
          <TableRegion label="Platforms">
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">Platform</th>
                  <th scope="col">Digest</th>
                  <th scope="col" class="num">Size</th>
                </tr>
              </thead>
              <tbody>
                {m.manifests.map((d) => (
                  <tr key={d.digest}>
                    <th scope="row">{d.platform ? platform(d.platform) : (d.artifactType ?? 'unknown')}</th>
                    <td>
                      <a href={links.manifest(name, d.digest)}>
                        <code>{shortDigest(d.digest)}</code>
                      </a>
                    </td>
                    <td class="num">{bytes(d.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </>
      ) : null}

      {c ? (
        <>
          <h2>Config</h2>
          <KeyValues
            label="Config"
            entries={[
              ['Platform', c.os && c.architecture ? platform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) }) : '—'],
              ['Entrypoint', <code>{list(c.entrypoint)}</code>],
              ['Command', <code>{list(c.cmd)}</code>],
              ['User', c.user ?? '—'],
              ['Working directory', c.workingDir ?? '—'],
              ['Exposed ports', list(c.exposedPorts)],
              ['Created', dateTime(c.created)],
              ['Config digest', <code class="break">{c.digest}</code>],
            ]}
          />
          <h3>Environment</h3>
          {c.env && c.env.length > 0 ? (
            <ul class="mono-list" aria-label="Environment">
              {c.env.map((e) => (
                <li key={e}>
                  <code>{e}</code>
                </li>
              ))}
            </ul>
          ) : (
            <p class="muted">None.</p>
          )}
          <h3>Labels</h3>
          <KeyValues label="Labels" entries={Object.entries(c.labels ?? {}).map(([k, v]) => [k, v])} />
        </>
      ) : null}

      {m.kind !== 'index' ? (
        <>
          <h2>Layers</h2>
          <TableRegion label="Layers">
            <table class="data" data-testid="layer-table">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Digest</th>
                  <th scope="col">Media type</th>
                  <th scope="col" class="num">Size</th>
                </tr>
              </thead>
              <tbody>
                {m.layers.map((l, i) => (
                  <tr key={`${l.digest}-${i}`}>
                    <td>{i + 1}</td>
                    <td>
                      <code title={l.digest}>{shortDigest(l.digest)}</code>
                    </td>
                    <td>
                      <code>{l.mediaType}</code>
                    </td>
                    <td class="num">{bytes(l.size)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </>
      ) : null}

      {c?.history && c.history.length > 0 ? (
        <>
          <h2>History</h2>
          <TableRegion label="History">
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Step</th>
                </tr>
              </thead>
              <tbody>
                {c.history.map((h, i) => (
                  <tr key={i}>
                    <td>{dateTime(h.created)}</td>
                    <td>
                      <code class="break">{h.createdBy ?? h.comment ?? ''}</code>
                      {h.emptyLayer ? <span class="muted"> (no layer)</span> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </>
      ) : null}

      <h2>Referrers</h2>
      {m.referrers.length === 0 ? (
        <p class="muted">No signatures, SBOMs or attestations refer to this manifest.</p>
      ) : (
        <TableRegion label="Referrers">
          <table class="data">
            <thead>
              <tr>
                <th scope="col">Artifact type</th>
                <th scope="col">Digest</th>
                <th scope="col" class="num">Size</th>
              </tr>
            </thead>
            <tbody>
              {m.referrers.map((r) => (
                <tr key={r.digest}>
                  <th scope="row">
                    <code>{r.artifactType ?? r.mediaType}</code>
                  </th>
                  <td>
                    <a href={links.manifest(name, r.digest)}>
                      <code>{shortDigest(r.digest)}</code>
                    </a>
                  </td>
                  <td class="num">{bytes(r.size)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      <ConfirmDialog
        open={confirming}
        title="Delete this manifest?"
        confirmLabel="Delete manifest"
        onClose={() => setConfirming(false)}
        onConfirm={async () => {
          await api(`${repoPath(name)}/manifests/${encodeURIComponent(m.digest)}`, { method: 'DELETE' });
          navigate(`/repositories/${name}`);
        }}
      >
        <p>
          Manifest <code>{shortDigest(m.digest)}</code> of <strong>{name}</strong> is deleted
          {m.tags.length > 0 ? `, with its tags ${m.tags.join(', ')}` : ''}. This cannot be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}
