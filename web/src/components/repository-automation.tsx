// The repository page's webhooks and build definitions (admins, when the server has those resources): the
// webhooks whose pattern covers the repository and the definitions that build it, linking to their pages.
import { useEffect, useState } from 'preact/hooks';
import { api, type Session } from '../api.ts';
import { patternMatches, type BuildDefinition, type Webhook } from '../automation.ts';
import { ErrorNote, TableRegion } from './common.tsx';

export function RepositoryAutomation({ name, session }: { name: string; session: Session }) {
  const hasWebhooks = session.admin && session.features.includes('admin-webhooks');
  const hasBuilds = session.admin && session.features.includes('admin-builds');
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [definitions, setDefinitions] = useState<BuildDefinition[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (hasWebhooks) api<{ webhooks: Webhook[] }>('webhooks').then((w) => setWebhooks(w.webhooks.filter((h) => patternMatches(h.repositories, name)))).catch((e: unknown) => setError(e));
    if (hasBuilds) api<{ definitions: BuildDefinition[] }>('builds/definitions').then((d) => setDefinitions(d.definitions.filter((b) => b.repository === name))).catch((e: unknown) => setError(e));
  }, [name, hasWebhooks, hasBuilds]);
  if (!hasWebhooks && !hasBuilds) return null;
  const query = `?repository=${encodeURIComponent(name)}`;
  return (
    <>
      <ErrorNote error={error} />
      {hasWebhooks ? (
        <>
          <h2>Webhooks</h2>
          {webhooks === null ? null : webhooks.length === 0 ? (
            <p class="muted">No webhook covers this repository.</p>
          ) : (
            <TableRegion label="Webhooks of this repository">
              <table class="data" data-testid="repository-webhooks">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">URL</th>
                    <th scope="col">Pattern</th>
                    <th scope="col">Format</th>
                  </tr>
                </thead>
                <tbody>
                  {webhooks.map((w) => (
                    <tr key={w.id}>
                      <th scope="row">{w.name}</th>
                      <td class="break">
                        <code>{w.url}</code>
                      </td>
                      <td>
                        <code>{w.repositories}</code>
                      </td>
                      <td>{w.format}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
          )}
          <p>
            <a href={`#/webhooks${query}`}>Webhooks and deliveries of {name}</a>
          </p>
        </>
      ) : null}
      {hasBuilds ? (
        <>
          <h2>Build definitions</h2>
          {definitions === null ? null : definitions.length === 0 ? (
            <p class="muted">No build definition builds this repository.</p>
          ) : (
            <TableRegion label="Build definitions of this repository">
              <table class="data" data-testid="repository-definitions">
                <thead>
                  <tr>
                    <th scope="col">Definition</th>
                    <th scope="col">Source</th>
                    <th scope="col">Builder</th>
                  </tr>
                </thead>
                <tbody>
                  {definitions.map((d) => (
                    <tr key={d.id}>
                      <th scope="row">{d.id}</th>
                      <td class="break">{d.source ? <code>{d.source.url}</code> : 'uploaded contexts only'}</td>
                      <td>{d.builder ?? 'auto'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableRegion>
          )}
          <p>
            <a href={`#/builds${query}`}>Builds of {name}</a>
          </p>
        </>
      ) : null}
    </>
  );
}
