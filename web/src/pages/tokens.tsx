// API tokens: a user's own (an admin may pick anyone's): list, create (the secret is shown once), revoke.
import { useEffect, useState } from 'preact/hooks';
import { api, type Session } from '../api.ts';
import { ConfirmDialog, CopyButton, ErrorNote, Loading, TableRegion } from '../components/common.tsx';
import { ago, dateTime } from '../format.ts';

interface Token {
  id: string;
  user: string;
  name: string;
  scope: Array<{ repositories: string[]; actions: string[] }>;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export function TokensPage({ session, route }: { session: Session; route: string }) {
  const forUser = new URLSearchParams(route.split('?')[1] ?? '').get('user') ?? '';
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [repositories, setRepositories] = useState('**');
  const [actions, setActions] = useState<string[]>(['pull']);
  const [expiresIn, setExpiresIn] = useState('720h');
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const load = (): void => {
    api<{ tokens: Token[] }>(`tokens${forUser ? `?user=${encodeURIComponent(forUser)}` : ''}`)
      .then((t) => setTokens(t.tokens))
      .catch((e: unknown) => setError(e));
  };
  useEffect(load, [forUser]);
  const toggle = (a: string): void => setActions(actions.includes(a) ? actions.filter((x) => x !== a) : [...actions, a]);
  return (
    <section>
      <h1>API tokens{forUser ? ` of ${forUser}` : ''}</h1>
      <p class="muted">Tokens let CI robots push and pull as you, limited to a scope. A token is shown once, when it is created.</p>
      <ErrorNote error={error} />
      {!tokens ? (
        <Loading what="tokens" />
      ) : tokens.length === 0 ? (
        <p class="muted">No API tokens.</p>
      ) : (
        <TableRegion label="API tokens">
          <table class="data">
            <thead>
              <tr>
                <th scope="col">Name</th>
                {session.admin ? <th scope="col">User</th> : null}
                <th scope="col">Scope</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  {session.admin ? <td>{t.user}</td> : null}
                  <td>{t.scope.map((s) => `${s.repositories.join(', ')}: ${s.actions.join(', ')}`).join('; ')}</td>
                  <td>{dateTime(t.createdAt)}</td>
                  <td>{t.expiresAt ? dateTime(t.expiresAt) : 'never'}</td>
                  <td>{ago(t.lastUsedAt)}</td>
                  <td>
                    <button type="button" class="danger small" onClick={() => setRevoking(t)} aria-label={`Revoke token ${t.name}`}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      {session.viaApiToken ? null : (
        <>
          <h2>Create a token</h2>
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              setError(null);
              api<{ token: string; name: string }>('tokens', {
                method: 'POST',
                body: {
                  name,
                  scope: [{ repositories: repositories.split(/[\s,]+/).filter(Boolean), actions }],
                  ...(expiresIn ? { expiresIn } : {}),
                  ...(forUser ? { user: forUser } : {}),
                },
              })
                .then((t) => {
                  setCreated({ name: t.name, token: t.token });
                  setName('');
                  load();
                })
                .catch((err: unknown) => setError(err));
            }}
          >
            <label for="token-name">Name</label>
            <input id="token-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
            <label for="token-repos">Repositories (patterns, comma-separated; ** is everything)</label>
            <input id="token-repos" required value={repositories} onInput={(e) => setRepositories(e.currentTarget.value)} />
            <fieldset>
              <legend>Actions</legend>
              {['pull', 'push', 'delete'].map((a) => (
                <label key={a} class="inline">
                  <input type="checkbox" checked={actions.includes(a)} onChange={() => toggle(a)} /> {a}
                </label>
              ))}
            </fieldset>
            <label for="token-expiry">Expires in (e.g. 720h; empty: never)</label>
            <input id="token-expiry" value={expiresIn} onInput={(e) => setExpiresIn(e.currentTarget.value)} />
            <button type="submit">Create token</button>
          </form>
          {created ? (
            <div class="notice" role="status">
              <p>
                Token <strong>{created.name}</strong> created. Copy it now: it is not shown again.
              </p>
              <div class="command">
                <code>{created.token}</code>
                <CopyButton text={created.token} what="the new token" />
              </div>
            </div>
          ) : null}
        </>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke token ${revoking?.name ?? ''}?`}
        confirmLabel="Revoke"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          await api(`tokens/${revoking!.id}`, { method: 'DELETE' });
          load();
        }}
      >
        <p>Anything using this token stops working at once.</p>
      </ConfirmDialog>
    </section>
  );
}
