import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenges } from '../../src/upstream/client/challenge.ts';
import { mayReceiveCredentials, registrableDomain } from '../../src/upstream/client/realm-policy.ts';
import { TokenCache } from '../../src/upstream/client/token-cache.ts';
import { UpstreamRouter } from '../../src/upstream/upstream-router.ts';
import { UpstreamClient } from '../../src/upstream/client/oci-client.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { DEFAULT_TIMEOUTS, type UpstreamSettings } from '../../src/upstream/upstream-settings.ts';

describe('upstream client parts', () => {
  it('parses WWW-Authenticate challenges', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://a/t"').map((c) => c.scheme), ['basic', 'bearer']);
    assert.deepEqual(parseChallenges('Bearer realm="a\\"b"')[0]!.params.realm, 'a"b');
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('sends credentials only to the upstream host, its site, or configured realms', () => {
    const hub = new URL('https://registry-1.docker.io');
    assert.equal(mayReceiveCredentials(hub, new URL('https://auth.docker.io/token'), []), true);
    assert.equal(mayReceiveCredentials(hub, new URL('https://registry-1.docker.io/token'), []), true);
    assert.equal(mayReceiveCredentials(hub, new URL('https://evil.example/token'), []), false);
    assert.equal(mayReceiveCredentials(hub, new URL('http://auth.docker.io/token'), []), false, 'no downgrade to plain HTTP');
    assert.equal(mayReceiveCredentials(hub, new URL('https://login.example/token'), ['https://login.example/token']), true);
    assert.equal(mayReceiveCredentials(new URL('http://127.0.0.1:5000'), new URL('http://127.0.0.1:6000/token'), []), true);
    assert.equal(mayReceiveCredentials(new URL('http://127.0.0.1:5000'), new URL('http://127.0.0.2:6000/token'), []), false);
    assert.equal(registrableDomain('a.b.example.co.uk'), 'example.co.uk');
    assert.equal(registrableDomain('localhost'), undefined);
  });

  it('caches tokens until shortly before they expire', () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    cache.set('k', 't', 300);
    now = 289_000;
    assert.equal(cache.get('k'), 't');
    now = 291_000;
    assert.equal(cache.get('k'), undefined);
  });

  it('routes by the longest prefix, strips it, adds library/ for Docker Hub, applies allow/deny', () => {
    const logger = createLogger('silent');
    const settings = (name: string, prefix: string, extra: Partial<UpstreamSettings> = {}): UpstreamSettings => ({
      name, prefix, url: new URL('https://registry.example'), realms: [], tagTtlMs: 0, timeouts: DEFAULT_TIMEOUTS, allow: [], deny: [], mode: 'proxied', officialImages: false, ...extra,
    });
    const router = new UpstreamRouter([
      new UpstreamClient(settings('default', '', { officialImages: true }), logger),
      new UpstreamClient(settings('ghcr', 'ghcr/', { allow: ['org/**'] }), logger),
      new UpstreamClient(settings('ghcr-local', 'ghcr/mine/', { mode: 'local' }), logger),
    ]);
    assert.deepEqual(pick(router.select('alpine')), ['default', 'library/alpine', false]);
    assert.deepEqual(pick(router.select('ghcr/org/app')), ['ghcr', 'org/app', false]);
    assert.deepEqual(pick(router.select('ghcr/other/app')), ['ghcr', 'other/app', true]);
    assert.equal(router.select('ghcr/mine/app'), undefined);
    for (const client of router.clients) void client.close();
  });
});

function pick(route: ReturnType<UpstreamRouter['select']>): [string, string, boolean] | undefined {
  return route ? [route.settings.name, route.remoteName, route.denied] : undefined;
}
