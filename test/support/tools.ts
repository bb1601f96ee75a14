/**
 * Checks that the external commands a test battery drives are installed.
 *
 * A missing client is a broken test machine, not a reason to pass: `requireTools` throws, naming the Debian
 * package that provides every missing command, so the failure says exactly how to fix it.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Debian package that provides each command the client tests use. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  jq: 'jq',
  htpasswd: 'apache2-utils',
  openssl: 'openssl',
  curl: 'curl',
  'docker-registry': 'docker-registry',
  unshare: 'util-linux',
  mount: 'mount',
  sh: 'dash',
  ctr: 'containerd',
  containerd: 'containerd',
  git: 'git',
};

/** The absolute path of `name` on PATH, or undefined when it is not an executable there. */
export function findOnPath(name: string, path: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Throws unless every named command is on PATH. The message names each missing command and its package,
 * e.g. `skopeo missing: apt-get install skopeo`.
 */
export function requireTools(...names: string[]): void {
  const missing = names.filter((name) => findOnPath(name) === undefined);
  if (missing.length === 0) return;
  const lines = missing.map((name) => {
    const pkg = DEBIAN_PACKAGE[name];
    return pkg === undefined
      ? `${name} missing: install the package that provides it`
      : `${name} missing: apt-get install ${pkg}`;
  });
  throw new Error(lines.join('\n'));
}
