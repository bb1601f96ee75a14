// The frame of every page: skip link, header with navigation, theme switch and the user's sign-in state.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../api.ts';
import { extensionPages } from '../extensions.ts';

type Theme = 'light' | 'dark';

function initialTheme(): Theme {
  const saved = localStorage.getItem('pier-theme');
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  return [
    theme,
    () => {
      const next = theme === 'dark' ? 'light' : 'dark';
      localStorage.setItem('pier-theme', next);
      setTheme(next);
    },
  ];
}

export function Layout(props: { session: Session; route: string; onSignOut: () => void; children: ComponentChildren }) {
  const { session, route } = props;
  const [theme, toggleTheme] = useTheme();
  const signedIn = session.signedIn;
  const nav: Array<{ href: string; label: string; show: boolean; match: (r: string) => boolean }> = [
    { href: '#/', label: 'Repositories', show: true, match: (r) => r === '/' || r.startsWith('/?') || r.startsWith('/repositories') },
    { href: '#/tokens', label: 'API tokens', show: signedIn && session.user !== null && !session.viaApiToken, match: (r) => r.startsWith('/tokens') },
    { href: '#/admin/storage', label: 'Storage', show: session.admin, match: (r) => r.startsWith('/admin/storage') },
    { href: '#/admin/rules', label: 'Rules', show: session.admin, match: (r) => r.startsWith('/admin/rules') },
    { href: '#/admin/users', label: 'Users', show: session.admin && session.authentication === 'required', match: (r) => r.startsWith('/admin/users') },
    ...extensionPages(session).map((p) => ({ href: `#${p.path}`, label: p.label, show: true, match: (r: string) => r.startsWith(p.path) })),
  ];
  return (
    <>
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="site-header">
        <a class="brand" href="#/">
          <img src="./favicon.svg" alt="" width={24} height={24} />
          <span>Pier</span>
        </a>
        <nav aria-label="Main">
          <ul>
            {nav
              .filter((n) => n.show)
              .map((n) => (
                <li key={n.href}>
                  <a href={n.href} aria-current={n.match(route) ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <div class="header-tools">
          <button type="button" class="secondary" onClick={toggleTheme} aria-pressed={theme === 'dark'} title="Dark theme">
            {theme === 'dark' ? 'Light theme' : 'Dark theme'}
          </button>
          {signedIn && session.user !== null ? (
            <>
              <span class="who">
                Signed in as <strong>{session.user}</strong>
                {session.viaApiToken ? ` (token ${session.viaApiToken.name})` : ''}
              </span>
              <button type="button" class="secondary" onClick={props.onSignOut}>
                Sign out
              </button>
            </>
          ) : session.authentication === 'required' ? (
            <a class="button" href="#/sign-in">
              Sign in
            </a>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
