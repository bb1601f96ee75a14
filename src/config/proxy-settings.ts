/**
 * The `proxy` section as pull-through settings: the reference registry's keys (`remoteurl`, `username`,
 * `password`) make the default upstream, serving every repository; Pier's `proxy.upstreams` add upstreams
 * selected by repository prefix. Undefined when no upstream is configured (a plain registry).
 */
import type { PierConfig } from './schema.ts';
import { DEFAULT_TIMEOUTS, type PullThroughSettings, type UpstreamSettings } from '../upstream/upstream-settings.ts';

type UpstreamKeys = Pick<PierConfig['proxy'], 'tagttl' | 'timeouts' | 'realms' | 'allow' | 'deny' | 'mode'>;

const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'docker.io', 'index.docker.io', 'registry.hub.docker.com']);

function upstream(name: string, prefix: string, remoteurl: string, username: string | undefined, password: string | undefined, keys: UpstreamKeys): UpstreamSettings {
  const url = new URL(remoteurl);
  return {
    name,
    prefix,
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    realms: keys.realms,
    tagTtlMs: keys.tagttl,
    timeouts: { connectMs: keys.timeouts.connect || DEFAULT_TIMEOUTS.connectMs, firstByteMs: keys.timeouts.firstbyte || DEFAULT_TIMEOUTS.firstByteMs, idleMs: keys.timeouts.idle || DEFAULT_TIMEOUTS.idleMs },
    allow: keys.allow,
    deny: keys.deny,
    mode: keys.mode,
    officialImages: DOCKER_HUB_HOSTS.has(url.hostname),
  };
}

export function pullThroughSettings(config: PierConfig): PullThroughSettings | undefined {
  const { proxy } = config;
  const upstreams: UpstreamSettings[] = proxy.upstreams.map((u) => upstream(u.name, u.prefix.endsWith('/') ? u.prefix : `${u.prefix}/`, u.remoteurl, u.username, u.password, u));
  if (proxy.remoteurl !== undefined) upstreams.push(upstream('default', '', proxy.remoteurl, proxy.username, proxy.password, proxy));
  if (upstreams.length === 0) return undefined;
  // proxy.ttl (registry:2: cached content expires after it) is an age limit unless proxy.cache.maxage is set.
  const maxAgeMs = proxy.cache.maxage ?? (proxy.ttl || undefined);
  const maxBytes = proxy.cache.maxsize;
  return {
    upstreams,
    notFoundTtlMs: proxy.notfoundttl,
    ...(maxAgeMs !== undefined || maxBytes !== undefined
      ? { eviction: { ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}), intervalMs: proxy.cache.interval || 600_000, gcGraceMs: config.lifecycle.gc.grace } }
      : {}),
  };
}
