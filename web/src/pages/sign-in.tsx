// Sign in with a registry user's password or an API token; the session lives in an HttpOnly cookie.
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorNote } from '../components/common.tsx';

export function SignInPage({ onSignedIn, anonymousAllowed }: { onSignedIn: () => void; anonymousAllowed: boolean }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section class="narrow">
      <h1>Sign in</h1>
      <p class="muted">Use your registry user name with its password, or with one of your API tokens.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          api('session', { method: 'POST', body: { user, password } })
            .then(onSignedIn)
            .catch((err: unknown) => setError(err))
            .finally(() => setBusy(false));
        }}
      >
        <label for="user">User name</label>
        <input id="user" name="user" autoComplete="username" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        <label for="password">Password or API token</label>
        <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        <ErrorNote error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {anonymousAllowed ? (
        <p>
          <a href="#/">Browse without signing in</a>
        </p>
      ) : null}
    </section>
  );
}
