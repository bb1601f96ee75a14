// Repository webhooks (admins): the list with "send test event" and delete, a form to create one (its secret
// shown once), and the delivery log — status, response code, latency, attempts and callback state — refreshed
// every two seconds while the page is open. `#/webhooks?repository=R` narrows both to one repository.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, type Session } from '../api.ts';
import { patternMatches, type Delivery, type Webhook } from '../automation.ts';
import { ConfirmDialog, CopyButton, ErrorNote, Loading, TableRegion } from '../components/common.tsx';
import { ago, dateTime } from '../format.ts';

const REFRESH_MS = 2000;

/** The endpoint key of a delivery (`webhook:<id>` or `config:<name>`) as people know it. */
function endpointName(key: string, webhooks: Webhook[]): string {
  if (key.startsWith('webhook:')) return webhooks.find((w) => `webhook:${w.id}` === key)?.name ?? 'deleted webhook';
  return key.replace(/^config:/, 'config.yml: ');
}

export function DeliveryLog({ webhooks, repository }: { webhooks: Webhook[]; repository?: string }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let stopped = false;
    const load = (): void => {
      api<{ deliveries: Delivery[] }>(`deliveries?limit=50${repository ? `&repository=${enc(repository)}` : ''}`)
        .then((d) => !stopped && (setDeliveries(d.deliveries), setError(null)))
        .catch((e: unknown) => !stopped && setError(e));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [repository]);
  if (!deliveries) return error ? <ErrorNote error={error} /> : <Loading what="the delivery log" />;
  return (
    <>
      <ErrorNote error={error} />
      {deliveries.length === 0 ? (
        <p class="muted">No deliveries yet.</p>
      ) : (
        <TableRegion label="Delivery log">
          <table class="data" data-testid="delivery-table">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Repository</th>
                <th scope="col">Endpoint</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">Response</th>
                <th scope="col" class="num">Latency</th>
                <th scope="col" class="num">Attempts</th>
                <th scope="col">Callback</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((d) => (
                <tr key={d.id}>
                  <th scope="row">{d.eventType}</th>
                  <td>{d.repository ?? '—'}</td>
                  <td>{endpointName(d.endpoint, webhooks)}</td>
                  <td>
                    <span class={`status status-${d.status}`}>{d.status}</span>
                    {d.lastError ? <span class="muted"> ({d.lastError})</span> : null}
                  </td>
                  <td class="num">{d.responseCode ?? '—'}</td>
                  <td class="num">{d.latencyMs !== undefined ? `${d.latencyMs} ms` : '—'}</td>
                  <td class="num">{d.attempts}</td>
                  <td>{d.callback ? `${d.callback.state}${d.callback.description ? `: ${d.callback.description}` : ''}` : '—'}</td>
                  <td>
                    <time dateTime={d.updatedAt} title={dateTime(d.updatedAt)}>
                      {ago(d.updatedAt)}
                    </time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
    </>
  );
}

export function WebhooksPage({ route }: { session: Session; route: string }) {
  const repository = new URLSearchParams(route.split('?')[1] ?? '').get('repository') ?? undefined;
  const [webhooks, setWebhooks] = useState<Webhook[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [formError, setFormError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [form, setForm] = useState({ name: '', url: '', repositories: repository ?? '**', format: 'reference' });

  const load = (): void => {
    api<{ webhooks: Webhook[] }>('webhooks')
      .then((w) => setWebhooks(w.webhooks))
      .catch((e: unknown) => setError(e));
  };
  useEffect(load, []);
  const field = (key: keyof typeof form) => (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => setForm({ ...form, [key]: e.currentTarget.value });

  if (!webhooks) return error ? <ErrorNote error={error} /> : <Loading what="the webhooks" />;
  const shown = repository ? webhooks.filter((w) => patternMatches(w.repositories, repository)) : webhooks;
  return (
    <section>
      <h1>Webhooks{repository ? ` for ${repository}` : ''}</h1>
      {repository ? (
        <p>
          <a href="#/webhooks">All webhooks</a>
        </p>
      ) : null}
      <p class="visually-hidden" role="status" aria-live="polite">
        {notice}
      </p>
      <ErrorNote error={error} />
      {shown.length === 0 ? (
        <p class="muted">No webhooks.</p>
      ) : (
        <TableRegion label="Webhooks">
          <table class="data" data-testid="webhook-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">URL</th>
                <th scope="col">Repositories</th>
                <th scope="col">Format</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((w) => (
                <tr key={w.id}>
                  <th scope="row">{w.name}</th>
                  <td class="break">
                    <code>{w.url}</code>
                  </td>
                  <td>
                    <code>{w.repositories}</code>
                  </td>
                  <td>{w.format}</td>
                  <td>{ago(w.createdAt)}</td>
                  <td class="actions-cell">
                    <button
                      type="button"
                      class="small"
                      onClick={() => {
                        setError(null);
                        api(`webhooks/${w.id}/test`, { method: 'POST' })
                          .then(() => setNotice(`Test event sent to ${w.name}`))
                          .catch((e: unknown) => setError(e));
                      }}
                    >
                      Send test event<span class="visually-hidden"> to {w.name}</span>
                    </button>{' '}
                    <button type="button" class="danger small" aria-label={`Delete webhook ${w.name}`} onClick={() => setDeleting(w)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      {notice ? <p class="notice">{notice}</p> : null}

      <h2>Create a webhook</h2>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          setFormError(null);
          setCreated(null);
          api<Webhook & { secret: string }>('webhooks', { method: 'POST', body: form })
            .then((w) => {
              setCreated({ name: w.name, secret: w.secret });
              setForm({ ...form, name: '', url: '' });
              load();
            })
            .catch((err: unknown) => setFormError(err));
        }}
      >
        <label for="webhook-name">Name</label>
        <input id="webhook-name" required value={form.name} onInput={field('name')} />
        <label for="webhook-url">URL (only to addresses the operator allows)</label>
        <input id="webhook-url" type="url" required value={form.url} onInput={field('url')} />
        <label for="webhook-repos">Repositories (a name or pattern: team/*, team/**, **)</label>
        <input id="webhook-repos" required value={form.repositories} onInput={field('repositories')} />
        <label for="webhook-format">Format</label>
        <select id="webhook-format" value={form.format} onChange={field('format')}>
          <option value="reference">reference (registry:2 notifications)</option>
          <option value="hub">hub (Docker Hub, with callbacks)</option>
          <option value="cloudevents">cloudevents</option>
        </select>
        <ErrorNote error={formError} />
        <button type="submit">Create webhook</button>
      </form>
      {created ? (
        <div class="notice" role="status">
          <p>
            Webhook <strong>{created.name}</strong> created. Its signing secret is shown only now:
          </p>
          <div class="command">
            <code>{created.secret}</code>
            <CopyButton text={created.secret} what="the signing secret" />
          </div>
        </div>
      ) : null}

      <h2>Delivery log</h2>
      <DeliveryLog webhooks={webhooks} {...(repository ? { repository } : {})} />

      <ConfirmDialog
        open={deleting !== null}
        title={`Delete webhook ${deleting?.name ?? ''}?`}
        confirmLabel="Delete webhook"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          await api(`webhooks/${deleting!.id}`, { method: 'DELETE' });
          setNotice(`Webhook ${deleting!.name} deleted`);
          load();
        }}
      >
        <p>No more events are sent to {deleting?.url}; deliveries already logged stay in the log.</p>
      </ConfirmDialog>
    </section>
  );
}
