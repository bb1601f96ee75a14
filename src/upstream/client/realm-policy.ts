/**
 * Who may receive an upstream's credentials. A token challenge names its realm, and a hostile or
 * compromised upstream (or anything on the path to it) could name any URL: the reference registry sends its
 * credentials to whatever realm it is told. Pier sends them only to
 * - the upstream's own host,
 * - realms the operator configured for that upstream, and
 * - realms on the same site as the upstream (same registrable domain: `auth.docker.io` for
 *   `registry-1.docker.io`; for an IP address or a single-label host, the same host),
 * and never over plain HTTP when the upstream itself is reached over HTTPS.
 * Any other realm is still asked for a token, anonymously.
 */
import { isIP } from 'node:net';

export function mayReceiveCredentials(upstream: URL, realm: URL, configuredRealms: readonly string[]): boolean {
  if (upstream.protocol === 'https:' && realm.protocol !== 'https:') return false;
  if (configuredRealms.some((configured) => sameEndpoint(configured, realm))) return true;
  if (realm.hostname === upstream.hostname) return true;
  const site = registrableDomain(upstream.hostname);
  return site !== undefined && site === registrableDomain(realm.hostname);
}

function sameEndpoint(configured: string, realm: URL): boolean {
  try {
    const url = new URL(configured);
    return url.origin === realm.origin && url.pathname === realm.pathname;
  } catch {
    return false;
  }
}

/** Short second-level labels under which names are registered (`example.co.uk`). */
const SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go']);

/**
 * The last two labels of a DNS name (three under a known second-level label such as `co.uk`); undefined for
 * IP addresses and single-label names, which are only ever "the same site" as themselves.
 */
export function registrableDomain(hostname: string): string | undefined {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (isIP(host) !== 0) return undefined;
  const labels = host.split('.');
  if (labels.length < 2) return undefined;
  const take = labels.length >= 3 && SECOND_LEVEL.has(labels[labels.length - 2]!) && labels[labels.length - 1]!.length === 2 ? 3 : 2;
  return labels.slice(-take).join('.');
}
