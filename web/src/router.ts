// Hash routes (#/repositories/…): the UI works under any path the server gives it, with no server routes.
import { useEffect, useState } from 'preact/hooks';

export function currentRoute(): string {
  return decodeURI(location.hash.replace(/^#/, '')) || '/';
}

export function useRoute(): string {
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const update = (): void => setRoute(currentRoute());
    addEventListener('hashchange', update);
    return () => removeEventListener('hashchange', update);
  }, []);
  return route;
}

export function navigate(path: string): void {
  location.hash = `#${path}`;
}

/** Hash links for repositories and manifests; a name's slashes are kept (the route parser anchors on words after it). */
export const links = {
  repositories: (): string => '#/',
  repository: (name: string): string => `#/repositories/${name}`,
  manifest: (name: string, digest: string): string => `#/repositories/${name}/manifests/${digest}`,
};
