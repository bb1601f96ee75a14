/**
 * An OCI Distribution client for one upstream registry, for the pull-through cache: manifest and blob HEAD
 * and GET, with anonymous, basic and bearer-token authentication.
 *
 * Bearer flow (as Docker Hub and the reference registry's token auth work): a request answered 401 carries a
 * `WWW-Authenticate: Bearer realm=…,service=…` challenge; the client asks the realm for a token for exactly
 * `repository:<name>:pull`, caches it until shortly before it expires, and sends the request again. The
 * challenge is remembered, so later requests get a token first instead of a 401 round trip. Credentials go
 * only where realm-policy.ts allows; other realms are asked anonymously.
 *
 * Every request has connect, first-byte (response headers) and idle (between body chunks) timeouts, set on
 * the client's own undici Agent. Redirects (blob downloads from a CDN) are followed; the Authorization
 * header is dropped when a redirect leaves the upstream's origin.
 */
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../../observability/logger.ts';
import type { UpstreamSettings } from '../upstream-settings.ts';
import { parseChallenges, type Challenge } from './challenge.ts';
import { mayReceiveCredentials } from './realm-policy.ts';
import { TokenCache } from './token-cache.ts';
import { classifyTransportError, UpstreamFailure } from './upstream-failure.ts';

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;

export interface UpstreamManifest {
  body: Buffer;
  mediaType: string | undefined;
  /** Docker-Content-Digest, when the upstream sent one. */
  digest: string | undefined;
}

export interface UpstreamBlob {
  /** Content-Length, when the upstream sent one. */
  size: number | undefined;
  body: Readable;
}

/** Counts what the client does, for metrics. */
export interface UpstreamObserver {
  request(upstream: string, kind: 'manifest' | 'blob' | 'token', method: string): void;
}

type Auth = { kind: 'none' } | { kind: 'basic' } | { kind: 'bearer'; realm: string; service: string | undefined };

export class UpstreamClient {
  private readonly agent: Agent;
  private readonly tokens = new TokenCache();
  private readonly tokenFetches = new Map<string, Promise<string>>();
  /** What the upstream asked for last time: saves a 401 round trip per request. */
  private auth: Auth = { kind: 'none' };
  private warnedRealms = new Set<string>();

  constructor(
    readonly settings: UpstreamSettings,
    private readonly logger: Logger,
    private readonly observer?: UpstreamObserver,
  ) {
    const { connectMs, firstByteMs, idleMs } = settings.timeouts;
    this.agent = new Agent({ connect: { timeout: connectMs }, headersTimeout: firstByteMs, bodyTimeout: idleMs, keepAliveTimeout: 30_000 });
  }

  get name(): string {
    return this.settings.name;
  }

  async headManifest(repository: string, reference: string): Promise<{ digest: string | undefined; mediaType: string | undefined; size: number | undefined } | 'not-found'> {
    const response = await this.send('HEAD', repository, `manifests/${reference}`, 'manifest', MANIFEST_ACCEPT);
    if (response === 'not-found') return response;
    await discard(response);
    return { digest: header(response, 'docker-content-digest'), mediaType: header(response, 'content-type')?.split(';')[0]?.trim(), size: contentLength(response) };
  }

  async getManifest(repository: string, reference: string): Promise<UpstreamManifest | 'not-found'> {
    const response = await this.send('GET', repository, `manifests/${reference}`, 'manifest', MANIFEST_ACCEPT);
    if (response === 'not-found') return response;
    const body = await this.readLimited(response, MAX_MANIFEST_BYTES, 'manifest');
    return { body, mediaType: header(response, 'content-type')?.split(';')[0]?.trim(), digest: header(response, 'docker-content-digest') };
  }

  async headBlob(repository: string, digest: string): Promise<{ size: number | undefined } | 'not-found'> {
    const response = await this.send('HEAD', repository, `blobs/${digest}`, 'blob');
    if (response === 'not-found') return response;
    await discard(response);
    return { size: contentLength(response) };
  }

  /** The blob's body as a stream; reading it can still fail (a stall past the idle timeout, a reset). */
  async getBlob(repository: string, digest: string): Promise<UpstreamBlob | 'not-found'> {
    const response = await this.send('GET', repository, `blobs/${digest}`, 'blob');
    if (response === 'not-found') return response;
    return { size: contentLength(response), body: response.body };
  }

  /** One page of the repository's tags upstream (`n`, `last` passed on); `more` when a Link header follows. */
  async listTags(repository: string, page: { n?: number; last?: string }): Promise<{ tags: string[]; more: boolean } | 'not-found'> {
    const query = new URLSearchParams();
    if (page.n !== undefined) query.set('n', String(page.n));
    if (page.last !== undefined) query.set('last', page.last);
    const response = await this.send('GET', repository, `tags/list${query.size > 0 ? `?${query.toString()}` : ''}`, 'manifest');
    if (response === 'not-found') return response;
    const body = await this.readLimited(response, MAX_MANIFEST_BYTES, 'tag list');
    let tags: unknown;
    try {
      tags = (JSON.parse(body.toString('utf8')) as { tags?: unknown }).tags;
    } catch {
      throw new UpstreamFailure(this.name, 'invalid', `upstream ${this.name} sent a tag list that is not JSON`);
    }
    const valid = Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string' && /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(t)) : [];
    return { tags: valid, more: header(response, 'link') !== undefined };
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** A request with authentication; 404 → 'not-found'; anything but 2xx → UpstreamFailure. */
  private async send(method: 'GET' | 'HEAD', repository: string, path: string, kind: 'manifest' | 'blob', accept?: string): Promise<Dispatcher.ResponseData | 'not-found'> {
    const url = new URL(`v2/${repository}/${path}`, this.baseUrl());
    const scope = `repository:${repository}:pull`;
    const headers: Record<string, string> = accept ? { accept } : {};
    let authorization = await this.authorizationFor(scope, false);
    let response = await this.exchange(method, url, headers, authorization, kind);
    if (response.statusCode === 401) {
      const challenges = parseChallenges(response.headers['www-authenticate']);
      await discard(response);
      this.auth = this.pickAuth(challenges);
      authorization = await this.authorizationFor(scope, true);
      if (authorization === undefined) throw new UpstreamFailure(this.name, 'status', `upstream ${this.name} requires authentication it did not offer a usable challenge for`);
      response = await this.exchange(method, url, headers, authorization, kind);
      if (response.statusCode === 401) {
        await discard(response);
        throw new UpstreamFailure(this.name, 'status', `upstream ${this.name} refused the credentials (401)`);
      }
    }
    if (response.statusCode === 404) {
      await discard(response);
      return 'not-found';
    }
    if (response.statusCode === 429) {
      await discard(response);
      throw new UpstreamFailure(this.name, 'rate-limited', `upstream ${this.name} is rate limiting (429)`, retryAfter(response));
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      await discard(response);
      throw new UpstreamFailure(this.name, 'status', `upstream ${this.name} answered ${response.statusCode}`);
    }
    return response;
  }

  private baseUrl(): URL {
    const base = new URL(this.settings.url.href);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    return base;
  }

  /** One request, following redirects; transport errors become UpstreamFailure. */
  private async exchange(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, authorization: string | undefined, kind: 'manifest' | 'blob' | 'token'): Promise<Dispatcher.ResponseData> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const sameOrigin = target.origin === this.settings.url.origin;
      this.observer?.request(this.name, kind, method);
      let response: Dispatcher.ResponseData;
      try {
        response = await request(target, {
          method,
          headers: { ...headers, 'user-agent': 'pier-pull-through', ...(authorization && sameOrigin ? { authorization } : {}) },
          dispatcher: this.agent,
        });
      } catch (error) {
        throw classifyTransportError(this.name, error);
      }
      const location = header(response, 'location');
      if (![301, 302, 303, 307, 308].includes(response.statusCode) || location === undefined) return response;
      await discard(response);
      if (hop >= MAX_REDIRECTS) throw new UpstreamFailure(this.name, 'invalid', `upstream ${this.name} redirected too often`);
      target = new URL(location, target);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new UpstreamFailure(this.name, 'invalid', `upstream ${this.name} redirected to a non-HTTP URL`);
    }
  }

  private pickAuth(challenges: Challenge[]): Auth {
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) return { kind: 'bearer', realm: bearer.params.realm!, service: bearer.params.service };
    if (challenges.some((c) => c.scheme === 'basic')) return { kind: 'basic' };
    return { kind: 'none' };
  }

  /** The Authorization header for a request (undefined: none). `fresh`: a cached token was just refused. */
  private async authorizationFor(scope: string, fresh: boolean): Promise<string | undefined> {
    const auth = this.auth;
    if (auth.kind === 'basic') {
      const { username, password } = this.settings;
      return username !== undefined ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined;
    }
    if (auth.kind === 'bearer') return `Bearer ${await this.token(auth.realm, auth.service, scope, fresh)}`;
    return undefined;
  }

  private async token(realm: string, service: string | undefined, scope: string, fresh: boolean): Promise<string> {
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
      if (realmUrl.protocol !== 'https:' && realmUrl.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      throw new UpstreamFailure(this.name, 'invalid', `upstream ${this.name} named an unusable token realm`);
    }
    const { username, password } = this.settings;
    const withCredentials = username !== undefined && mayReceiveCredentials(this.settings.url, realmUrl, this.settings.realms);
    if (username !== undefined && !withCredentials && !this.warnedRealms.has(realmUrl.origin)) {
      this.warnedRealms.add(realmUrl.origin);
      this.logger.warn({ upstream: this.name, realm: realmUrl.origin }, 'token realm is not on the upstream site and not configured: asking it for a token without credentials');
    }
    const key = TokenCache.key(realmUrl.href, service, scope, withCredentials ? username! : '');
    if (fresh) this.tokens.delete(key);
    const cached = this.tokens.get(key);
    if (cached) return cached;
    let pending = this.tokenFetches.get(key);
    if (!pending) {
      pending = this.fetchToken(realmUrl, service, scope, withCredentials ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined, key);
      this.tokenFetches.set(key, pending);
      void pending.finally(() => this.tokenFetches.delete(key)).catch(() => undefined);
    }
    return pending;
  }

  private async fetchToken(realm: URL, service: string | undefined, scope: string, authorization: string | undefined, key: string): Promise<string> {
    const url = new URL(realm.href);
    if (service !== undefined) url.searchParams.set('service', service);
    url.searchParams.set('scope', scope);
    this.observer?.request(this.name, 'token', 'GET');
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, { method: 'GET', headers: { 'user-agent': 'pier-pull-through', ...(authorization ? { authorization } : {}) }, dispatcher: this.agent });
    } catch (error) {
      throw classifyTransportError(this.name, error);
    }
    if (response.statusCode === 429) {
      await discard(response);
      throw new UpstreamFailure(this.name, 'rate-limited', `the token service of upstream ${this.name} is rate limiting (429)`, retryAfter(response));
    }
    if (response.statusCode !== 200) {
      await discard(response);
      throw new UpstreamFailure(this.name, 'status', `the token service of upstream ${this.name} answered ${response.statusCode}`);
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse((await this.readLimited(response, MAX_TOKEN_RESPONSE_BYTES, 'token response')).toString('utf8')) as typeof parsed;
    } catch (error) {
      if (UpstreamFailure.is(error)) throw error;
      throw new UpstreamFailure(this.name, 'invalid', `the token service of upstream ${this.name} sent no JSON`);
    }
    const token = typeof parsed.token === 'string' ? parsed.token : typeof parsed.access_token === 'string' ? parsed.access_token : undefined;
    if (!token || !/^[\x21-\x7e]+$/.test(token)) throw new UpstreamFailure(this.name, 'invalid', `the token service of upstream ${this.name} sent no usable token`);
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    this.tokens.set(key, token, lifetime);
    return token;
  }

  private async readLimited(response: Dispatcher.ResponseData, limit: number, what: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > limit) {
          response.body.destroy();
          throw new UpstreamFailure(this.name, 'invalid', `upstream ${this.name} sent a ${what} over ${limit} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (error) {
      throw classifyTransportError(this.name, error);
    }
    return Buffer.concat(chunks, total);
  }
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function contentLength(response: Dispatcher.ResponseData): number | undefined {
  const value = header(response, 'content-length');
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}

function retryAfter(response: Dispatcher.ResponseData): number | undefined {
  const value = header(response, 'retry-after');
  return value !== undefined && /^\d{1,6}$/.test(value) ? Number(value) : undefined;
}

async function discard(response: Dispatcher.ResponseData): Promise<void> {
  try {
    await response.body.dump({ limit: 64 * 1024 });
  } catch {
    // the connection is dropped instead of reused
  }
}
