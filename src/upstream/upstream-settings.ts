/**
 * What the pull-through cache is configured with, as plain values (config/proxy-settings.ts derives them
 * from the `proxy` section). One entry per upstream; the reference registry's `proxy.remoteurl` becomes the
 * default upstream (prefix ''), which serves every repository no other upstream claims.
 */

/**
 * - `proxied`: the upstream is the source of truth; content is cached, pushes are refused (UNSUPPORTED).
 * - `local-first`: what was pushed here is served first; anything else is fetched from the upstream.
 * - `local`: the upstream is not used (a prefix excluded from a default upstream).
 */
export type RepositoryMode = 'proxied' | 'local-first' | 'local';
export const REPOSITORY_MODES = ['proxied', 'local-first', 'local'] as const;

export interface UpstreamTimeouts {
  /** To establish the TCP (and TLS) connection. */
  connectMs: number;
  /** From sending a request to the response headers. */
  firstByteMs: number;
  /** Longest pause between two pieces of a response body. */
  idleMs: number;
}

export interface UpstreamSettings {
  /** A short label for logs, metrics and error messages. */
  name: string;
  /** Repository-name prefix that selects this upstream, ending in `/` (`hub/`); '' for the default upstream. */
  prefix: string;
  /** The upstream registry's base URL (`https://registry-1.docker.io`). */
  url: URL;
  username?: string;
  password?: string;
  /** Token realms (besides the upstream's own site) that may receive the credentials. */
  realms: string[];
  /** How long a cached tag is served before it is revalidated upstream with a HEAD; 0: every time. */
  tagTtlMs: number;
  timeouts: UpstreamTimeouts;
  /** Repository patterns (after the prefix) this upstream may serve; empty: all. */
  allow: string[];
  /** Repository patterns it must not serve; wins over allow. */
  deny: string[];
  mode: RepositoryMode;
  /** Docker Hub: a one-component name (`alpine`) is `library/alpine` upstream. */
  officialImages: boolean;
}

export interface PullThroughSettings {
  upstreams: UpstreamSettings[];
  /** How long an upstream 404 is remembered (not asked again). */
  notFoundTtlMs: number;
  /** Limits on the cache: least recently pulled content is evicted first, every intervalMs. */
  eviction?: { maxBytes?: number; maxAgeMs?: number; intervalMs: number; gcGraceMs: number };
}

export const DEFAULT_TIMEOUTS: UpstreamTimeouts = { connectMs: 5_000, firstByteMs: 30_000, idleMs: 30_000 };
