// The web UI: loads who the browser is (GET /pier/api/v1/session), then routes hash paths to pages.
import { render, type ComponentChildren, type ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, setCsrfToken, type Session } from './api.ts';
import { ErrorNote, Loading } from './components/common.tsx';
import { Layout } from './components/layout.tsx';
import { extensionPages } from './extensions.ts';
import { SignInPage } from './pages/sign-in.tsx';
import { RepositoriesPage } from './pages/repositories.tsx';
import { RepositoryPage } from './pages/repository.tsx';
import { ManifestPage } from './pages/manifest.tsx';
import { TokensPage } from './pages/tokens.tsx';
import { RulesPage, StoragePage, UsersPage } from './pages/admin.tsx';
import { navigate, useRoute } from './router.ts';

function ExtensionRoute({ load, session, route }: { load: () => Promise<ComponentType<{ session: Session; route: string }>>; session: Session; route: string }) {
  const [Page, setPage] = useState<ComponentType<{ session: Session; route: string }> | null>(null);
  useEffect(() => {
    void load().then((p) => setPage(() => p));
  }, [load]);
  return Page ? <Page session={session} route={route} /> : <Loading what="the page" />;
}

function page(route: string, session: Session, refresh: () => Promise<void>): [string, ComponentChildren] {
  const path = route.split('?')[0]!;
  if (path === '/sign-in') return ['Sign in', <SignInPage anonymousAllowed onSignedIn={() => void refresh().then(() => navigate('/'))} />];
  if (path === '/') return ['Repositories', <RepositoriesPage route={route} />];
  let m = /^\/repositories\/(.+)\/manifests\/([^/]+)$/.exec(path);
  if (m) return [`${m[1]} ${m[2]!.slice(0, 19)}`, <ManifestPage key={path} name={m[1]!} reference={m[2]!} />];
  m = /^\/repositories\/(.+)$/.exec(path);
  if (m) return [m[1]!, <RepositoryPage key={path} name={m[1]!} session={session} />];
  if (path === '/tokens') return ['API tokens', <TokensPage session={session} route={route} />];
  if (path === '/admin/storage') return ['Storage', <StoragePage />];
  if (path === '/admin/rules') return ['Rules', <RulesPage />];
  if (path === '/admin/users') return ['Users', <UsersPage />];
  const extension = extensionPages(session).find((e) => path.startsWith(e.path));
  if (extension) return [extension.label, <ExtensionRoute load={extension.page} session={session} route={route} />];
  return ['Not found', <p>No such page. <a href="#/">Back to the repositories</a></p>];
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | null>(null);
  const [error, setError] = useState<unknown>(null);
  const refresh = async (): Promise<void> => {
    const s = await api<Session>('session');
    setCsrfToken(s.csrfToken);
    setSession(s);
  };
  useEffect(() => {
    refresh().catch((e: unknown) => setError(e));
  }, []);
  const [title, content] = session ? page(route, session, refresh) : ['Pier', null];
  useEffect(() => {
    document.title = `${title} · Pier`;
  }, [title]);
  if (error) return <ErrorNote error={error} />;
  if (!session) return <Loading what="Pier" />;
  return (
    <Layout
      session={session}
      route={route}
      onSignOut={() => {
        void api('session', { method: 'DELETE' })
          .then(refresh)
          .then(() => navigate('/sign-in'));
      }}
    >
      {content}
    </Layout>
  );
}

render(<App />, document.getElementById('app')!);
