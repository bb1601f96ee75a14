/**
 * Checks across keys that the schema cannot express, and the list of keys Pier accepts without acting on
 * them (notices). A reference registry's config.yml should start Pier unchanged: what Pier does not do yet is
 * reported, not refused — unless ignoring it would silently weaken security or serve something else than
 * configured (another storage driver, Let's Encrypt without a certificate, a path prefix, "silly" auth).
 */
import { OTHER_STORAGE_DRIVERS, STORAGE_DRIVERS, type PierConfig } from './schema.ts';
import type { RawTree, RawValue } from './yaml-source.ts';
import { parseListenAddress } from './listen-address.ts';
import { isIP } from 'node:net';

export interface ConfigNotice {
  key: string;
  level: 'warn' | 'info';
  message: string;
}

export interface CheckProblem {
  key: string;
  message: string;
  where?: string;
}

function get(raw: RawTree, path: string): RawValue | undefined {
  let node: RawValue | undefined = raw;
  for (const key of path.split('.')) {
    if (node === null || node === undefined || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as RawTree)[key];
  }
  return node;
}

const present = (raw: RawTree, path: string): boolean => {
  const v = get(raw, path);
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
};

export function checkConfig(config: PierConfig, raw: RawTree, notices: ConfigNotice[]): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const problem = (key: string, message: string): void => void problems.push({ key, message });
  const notice = (key: string, message: string, level: 'warn' | 'info' = 'warn'): void => void notices.push({ key, level, message });
  const unsupported = (key: string, what: string): void => notice(key, `accepted but not supported: ${what}`);

  // storage
  const rawStorage = get(raw, 'storage');
  const drivers = [...STORAGE_DRIVERS, ...OTHER_STORAGE_DRIVERS].filter((d) => (typeof rawStorage === 'string' ? rawStorage === d : get(raw, `storage.${d}`) !== undefined));
  for (const d of drivers.filter((d) => !(STORAGE_DRIVERS as readonly string[]).includes(d))) {
    problem(`storage.${d}`, 'storage driver not supported by Pier yet: use storage.filesystem, s3 or azure');
  }
  checkObjectStorage(config, raw, problem, notice);
  if (drivers.length > 1) problem('storage', `exactly one storage driver, not ${drivers.length} (${drivers.join(', ')})`);
  if (config.storage && drivers.length === 0) problem('storage', 'required: a storage driver section (storage.filesystem, s3 or azure)');
  if (config.storage?.filesystem?.maxthreads !== undefined) notice('storage.filesystem.maxthreads', 'ignored: Node.js schedules file I/O itself', 'info');
  if (present(raw, 'storage.cache')) notice('storage.cache', "ignored: Pier's metadata index replaces the blob descriptor cache", 'info');
  const purging = config.storage?.maintenance.uploadpurging;
  if (purging?.enabled && purging.dryrun) notice('storage.maintenance.uploadpurging.dryrun', 'uploads are not purged (Pier does not list what a dry run would purge; use `pier gc --dry-run --list`)', 'info');
  if (purging?.enabled && config.storage?.maintenance.readonly.enabled) notice('storage.maintenance.uploadpurging', 'not run in read-only mode', 'info');
  if (present(raw, 'storage.tag')) notice('storage.tag', 'ignored: tag lookups go through the metadata index', 'info');

  // log
  if (config.loglevel !== undefined) notice('loglevel', 'deprecated: use log.level', 'info');
  if (config.log.formatter === 'text' || config.log.formatter === 'logstash') unsupported('log.formatter', 'Pier writes JSON lines (pretty on a terminal)');
  if (present(raw, 'log.hooks')) unsupported('log.hooks', 'log hooks (e-mail) are not available');
  if (config.log.reportcaller) unsupported('log.reportcaller', 'caller reporting is not available');
  if (config.log.accesslog.disabled) unsupported('log.accesslog.disabled', 'Pier logs every request at level info; raise log.level to hide them');

  // http
  if (config.http.net === 'unix') problem('http.net', 'not supported yet: Pier listens on TCP only');
  else {
    try {
      parseListenAddress(config.http.addr);
    } catch (error) {
      problem('http.addr', (error as Error).message);
    }
  }
  if (config.http.prefix !== undefined && config.http.prefix !== '' && config.http.prefix !== '/') {
    problem('http.prefix', 'not supported yet: Pier serves the API at /v2/ only (strip the prefix in the proxy in front)');
  }
  if (config.http.host !== undefined) notice('http.host', 'not needed: Pier sends relative URLs in Location headers', 'info');
  if (present(raw, 'http.relativeurls') && !config.http.relativeurls) notice('http.relativeurls', 'Pier always sends relative URLs', 'info');
  if (config.http.secret !== undefined) notice('http.secret', 'not needed: upload state lives in storage, not in signed URLs', 'info');
  const tls = config.http.tls;
  if ((tls.certificate === undefined) !== (tls.key === undefined)) {
    problem(tls.certificate === undefined ? 'http.tls.certificate' : 'http.tls.key', 'http.tls needs both certificate and key');
  }
  if (tls.letsencrypt !== undefined && present(raw, 'http.tls.letsencrypt')) {
    if (tls.certificate === undefined) problem('http.tls.letsencrypt', "not supported: Pier cannot obtain certificates from Let's Encrypt; set http.tls.certificate and key");
    else notice('http.tls.letsencrypt', 'ignored: http.tls.certificate is set');
  }
  if (tls.clientcas.length > 0 && tls.certificate === undefined) problem('http.tls.clientcas', 'client certificates need TLS: set http.tls.certificate and key');
  if (present(raw, 'http.tls.minimumtls') && (tls.minimumtls === 'tls1.0' || tls.minimumtls === 'tls1.1')) {
    notice('http.tls.minimumtls', `${tls.minimumtls} is below what Pier serves: using tls1.2`);
  }
  if (tls.ciphersuites !== undefined) unsupported('http.tls.ciphersuites', "Node.js/OpenSSL's default cipher suites for TLS 1.2 and 1.3 are used");
  if (config.http.debug.addr !== undefined) unsupported('http.debug.addr', '/metrics, /healthz and /readyz are served on the main listener');
  else if (config.http.debug.prometheus.enabled) notice('http.debug.prometheus', 'Prometheus metrics are always served at /metrics on the main listener', 'info');

  // auth
  const { htpasswd, token, silly } = config.auth;
  if (silly !== undefined) problem('auth.silly', 'not supported: "silly" is a test-only access controller; use htpasswd or token');
  if (htpasswd !== undefined && token !== undefined && token.signingkey === undefined) {
    problem('auth', 'exactly one of htpasswd or token, unless Pier issues the tokens itself (auth.token.signingkey)');
  }
  if (token !== undefined) {
    let realm: URL | undefined;
    try {
      realm = new URL(token.realm);
      if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new Error('not http(s)');
    } catch {
      problem('auth.token.realm', `expected an absolute http(s) URL, not ${JSON.stringify(token.realm)}`);
    }
    if (token.signingkey !== undefined) {
      if (htpasswd === undefined) problem('auth.token.signingkey', "the built-in token service needs auth.htpasswd for its users' passwords");
      if (realm && (realm.pathname.startsWith('/v2') || ['/metrics', '/healthz', '/readyz'].includes(realm.pathname))) {
        problem('auth.token.realm', `the token endpoint path ${realm.pathname} collides with the registry API`);
      }
    } else if (token.rootcertbundle === undefined && token.jwks === undefined) {
      problem('auth.token', 'needs rootcertbundle or jwks to verify tokens (or signingkey for Pier to issue them)');
    }
    if (token.autoredirect) notice('auth.token.autoredirect', 'the realm is rewritten to the host each request came in on', 'info');
  }
  if (config.access.policy !== undefined && htpasswd === undefined && token === undefined) {
    problem('access.policy', 'needs auth.htpasswd or auth.token: without authentication there is no user to apply it to');
  }

  // other sections of the reference registry
  if (present(raw, 'middleware')) unsupported('middleware', 'registry, repository and storage middleware (e.g. cloudfront, redirect) are not available');
  if (present(raw, 'reporting')) unsupported('reporting', 'bugsnag and newrelic reporting are not available');
  for (const [i, e] of config.notifications.endpoints.entries()) {
    if (!URL.canParse(e.url) || !/^https?:$/.test(new URL(e.url).protocol)) problem(`notifications.endpoints[${i}].url`, 'must be an http or https URL');
    if (e.threshold !== undefined) notice(`notifications.endpoints[${i}].threshold`, 'Pier backs off from the first failure (backoff doubles up to maxbackoff)', 'info');
  }
  for (const key of ['allow', 'deny'] as const) {
    config.notifications.webhooks[key].forEach((range, i) => {
      const [address, bits, ...rest] = range.trim().split('/');
      const family = isIP(address ?? '');
      const prefixOk = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
      if (family === 0 || !prefixOk || rest.length > 0) problem(`notifications.webhooks.${key}[${i}]`, `expected an address or CIDR range (10.0.0.0/8, fd00::/8), not ${JSON.stringify(range)}`);
    });
  }
  const callbackBase = config.notifications.callbackbaseurl;
  if (callbackBase !== undefined && (!URL.canParse(callbackBase) || !/^https?:$/.test(new URL(callbackBase).protocol))) problem('notifications.callbackbaseurl', 'must be an http or https URL');
  if (present(raw, 'redis')) notice('redis', 'not needed: Pier keeps its cache and state in the metadata index', 'info');
  if (config.health.storagedriver.enabled || present(raw, 'health.file') || present(raw, 'health.http') || present(raw, 'health.tcp')) {
    unsupported('health', 'health checkers are not configurable; /healthz and /readyz check storage and index');
  }
  if (config.catalog.maxentries !== undefined) unsupported('catalog.maxentries', 'the catalog returns up to n entries per page (default 1000)');
  checkProxy(config, problem, notice);
  if (present(raw, 'compatibility')) unsupported('compatibility', 'schema1 manifests are not supported');
  if (present(raw, 'validation')) unsupported('validation', 'manifest URL validation is not configurable');
  if (present(raw, 'policy.repository.classes')) unsupported('policy.repository.classes', 'repository classes are not enforced');
  // index (Pier-only)
  const pg = config.index.postgres;
  if (pg.password !== undefined && pg.passwordfile !== undefined) problem('index.postgres.passwordfile', 'give password or passwordfile, not both');
  if (config.index.backend === 'postgres' && pg.url !== undefined && pg.host !== undefined) problem('index.postgres.host', 'give url or host, not both');
  if (config.index.backend !== 'postgres' && present(raw, 'index.postgres')) notice('index.postgres', 'ignored: index.backend is not postgres', 'info');

  return problems;
}

const UPSTREAM_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const REPOSITORY_PREFIX = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\/?$/;

function checkProxy(config: PierConfig, problem: (key: string, message: string) => void, notice: (key: string, message: string, level?: 'warn' | 'info') => void): void {
  const { proxy } = config;
  const checkUrl = (key: string, value: string): void => {
    try {
      const url = new URL(value);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
      if (url.username || url.password) problem(key, 'put credentials in username and password, not in the URL');
    } catch {
      problem(key, `expected an absolute http(s) URL, not ${JSON.stringify(value)}`);
    }
  };
  if (proxy.remoteurl !== undefined) checkUrl('proxy.remoteurl', proxy.remoteurl);
  if (proxy.ttl !== undefined && proxy.cache.maxage !== undefined) notice('proxy.ttl', 'ignored: proxy.cache.maxage is set', 'info');
  const names = new Set<string>();
  const prefixes = new Set<string>();
  proxy.upstreams.forEach((u, i) => {
    const key = `proxy.upstreams[${i}]`;
    if (!UPSTREAM_NAME.test(u.name) || u.name === 'default') problem(`${key}.name`, `expected a short lower-case name (not "default"), not ${JSON.stringify(u.name)}`);
    if (names.has(u.name)) problem(`${key}.name`, `upstream name ${u.name} is used twice`);
    names.add(u.name);
    const prefix = u.prefix.endsWith('/') ? u.prefix : `${u.prefix}/`;
    if (!REPOSITORY_PREFIX.test(prefix)) problem(`${key}.prefix`, `expected a repository-name prefix such as hub/, not ${JSON.stringify(u.prefix)}`);
    if (prefixes.has(prefix)) problem(`${key}.prefix`, `prefix ${prefix} is used by two upstreams`);
    prefixes.add(prefix);
    checkUrl(`${key}.remoteurl`, u.remoteurl);
    for (const realm of u.realms) checkUrl(`${key}.realms`, realm);
  });
  for (const realm of proxy.realms) checkUrl('proxy.realms', realm);
}

/** storage.s3 and storage.azure: what the schema cannot say. */
function checkObjectStorage(
  config: PierConfig,
  raw: RawTree,
  problem: (key: string, message: string) => void,
  notice: (key: string, message: string, level?: 'warn' | 'info') => void,
): void {
  const s3 = config.storage?.s3;
  if (s3) {
    const MIN = 5 * 1024 * 1024;
    const MAX = 5 * 1024 * 1024 * 1024;
    for (const key of ['chunksize', 'multipartcopychunksize'] as const) {
      if (s3[key] < MIN || s3[key] > MAX) problem(`storage.s3.${key}`, `must be between ${MIN} (5 MiB, S3's smallest part) and ${MAX} (5 GiB)`);
    }
    if (s3.multipartcopythresholdsize > MAX) problem('storage.s3.multipartcopythresholdsize', `must be at most ${MAX} (5 GiB, S3's largest single copy)`);
    if ((s3.accesskey === undefined || s3.accesskey === '') !== (s3.secretkey === undefined || s3.secretkey === '')) {
      problem(s3.accesskey ? 'storage.s3.secretkey' : 'storage.s3.accesskey', 'give both accesskey and secretkey, or neither (the default AWS credential chain)');
    }
    if (!s3.v4auth) notice('storage.s3.v4auth', 'Pier signs S3 requests with Signature Version 4 only (every current S3-compatible store accepts it)');
    if (s3.keyid !== undefined && !s3.encrypt) notice('storage.s3.keyid', 'ignored: encrypt is false', 'info');
    if (s3.loglevel !== undefined) notice('storage.s3.loglevel', 'ignored: S3 errors are logged with the request that met them', 'info');
    if (s3.regionendpoint !== undefined && !/^https?:\/\//.test(s3.regionendpoint) && present(raw, 'storage.s3.secure') === false) {
      notice('storage.s3.regionendpoint', `no scheme: using https://${s3.regionendpoint} (set secure: false for http)`, 'info');
    }
  }
  const azure = config.storage?.azure;
  if (azure) {
    const viaUrl = azure.connectionstring !== undefined || azure.serviceurl !== undefined;
    if (azure.connectionstring === undefined && (azure.accountname === undefined || azure.accountkey === undefined)) {
      problem('storage.azure', 'needs accountname and accountkey (or Pier\'s connectionstring)');
    }
    if (azure.connectionstring !== undefined && azure.serviceurl !== undefined) problem('storage.azure.serviceurl', 'give serviceurl or connectionstring, not both');
    const type = azure.credentials?.type;
    if (type !== undefined && type !== 'shared_key') {
      problem('storage.azure.credentials.type', `${JSON.stringify(type)} is not supported yet: use shared_key (accountname and accountkey) or connectionstring`);
    }
    if (viaUrl && present(raw, 'storage.azure.realm')) notice('storage.azure.realm', 'ignored: serviceurl or connectionstring names the endpoint', 'info');
    if (azure.max_retries !== undefined || azure.retry_delay !== undefined) notice('storage.azure', 'max_retries and retry_delay are ignored: the Azure SDK retries with its own exponential back-off', 'info');
  }
}
