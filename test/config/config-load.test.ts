/**
 * The configuration loader: the reference registry's config.yml format, REGISTRY_* overrides and flags in
 * their order of precedence, every problem reported at once with where it is, notices for keys Pier does not
 * act on, and docs/configuration.md in step with the schema.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatProblem, loadConfig, type LoadResult } from '../../src/config/load.ts';
import { settingsFromConfig } from '../../src/config/serve-settings.ts';
import { parseConfigDuration, PIER_ONLY_KEYS, schemaKeys } from '../../src/config/schema.ts';

/** The full option list of the reference registry's documentation (placeholders made concrete). */
const REFERENCE_FULL = `
version: 0.1
log:
  accesslog:
    disabled: true
  level: debug
  formatter: text
  fields:
    service: registry
    environment: staging
loglevel: debug
storage:
  filesystem:
    rootdirectory: /var/lib/registry
    maxthreads: 100
  delete:
    enabled: false
  redirect:
    disable: false
  cache:
    blobdescriptor: redis
    blobdescriptorsize: 10000
  maintenance:
    uploadpurging:
      enabled: true
      age: 168h
      interval: 24h
      dryrun: false
    readonly:
      enabled: false
auth:
  htpasswd:
    realm: basic-realm
    path: /path/to/htpasswd
middleware:
  registry:
    - name: ARegistryMiddleware
      options:
        foo: bar
  storage:
    - name: cloudfront
      options:
        baseurl: https://my.cloudfronted.domain.com/
reporting:
  bugsnag:
    apikey: bugsnagapikey
http:
  addr: localhost:5000
  prefix: /
  host: https://myregistryaddress.org:5000
  secret: asecretforlocaldevelopment
  relativeurls: false
  draintimeout: 60s
  tls:
    certificate: /path/to/x509/public
    key: /path/to/x509/private
    clientcas:
      - /path/to/ca.pem
      - /path/to/another/ca.pem
    minimumtls: tls1.2
    ciphersuites:
      - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    letsencrypt:
      cachefile: /path/to/cache-file
      email: emailused@letsencrypt.com
      hosts: [myregistryaddress.org]
  debug:
    addr: localhost:5001
    prometheus:
      enabled: true
      path: /metrics
  headers:
    X-Content-Type-Options: [nosniff]
  http2:
    disabled: false
notifications:
  events:
    includereferences: true
  endpoints:
    - name: alistener
      disabled: false
      url: https://my.listener.com/event
      headers:
        Authorization: [Bearer abc]
      timeout: 1s
      threshold: 10
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
      ignore:
        mediatypes:
          - application/octet-stream
        actions:
          - pull
redis:
  addr: localhost:6379
  password: asecret
  db: 0
  dialtimeout: 10ms
  pool:
    maxidle: 16
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
  file:
    - file: /path/to/checked/file
      interval: 10s
  tcp:
    - addr: redis-server.domain.com:6379
      timeout: 3s
catalog:
  maxentries: 100
proxy:
  remoteurl: https://registry-1.docker.io
  username: someone
  password: something
  ttl: 168h
compatibility:
  schema1:
    enabled: true
validation:
  manifests:
    urls:
      allow:
        - ^https?://([^/]+\\.)*example\\.com/
      deny:
        - ^https?://www\\.example\\.com/
policy:
  repository:
    classes:
      - image
`;

function ok(result: LoadResult): NonNullable<LoadResult['config']> {
  assert.deepEqual(result.problems.map(formatProblem), [], 'no problems expected');
  assert.ok(result.config);
  return result.config;
}

describe('configuration: the reference format', () => {
  it('accepts every option of the reference documentation and lists what Pier does not act on', () => {
    const result = loadConfig({ text: REFERENCE_FULL, file: 'config.yml', env: {} });
    const config = ok(result);
    const settings = settingsFromConfig(config, result.notices);
    assert.equal(settings.addr, 'localhost:5000');
    assert.deepEqual(settings.listen, { host: 'localhost', port: 5000 });
    assert.equal(settings.dataDir, '/var/lib/registry');
    assert.equal(settings.deleteEnabled, false);
    assert.equal(settings.logLevel, 'debug');
    assert.deepEqual(settings.logFields, { service: 'registry', environment: 'staging' });
    assert.equal(settings.drainTimeoutMs, 60_000);
    assert.deepEqual(settings.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.deepEqual(settings.tls, {
      certificateFile: '/path/to/x509/public',
      keyFile: '/path/to/x509/private',
      clientCAFiles: ['/path/to/ca.pem', '/path/to/another/ca.pem'],
      minVersion: 'TLSv1.2',
      http2: true,
    });
    assert.equal(config.storage?.maintenance.uploadpurging.age, 168 * 3_600_000);
    assert.deepEqual(settings.uploadPurging, { intervalMs: 24 * 3_600_000, maxAgeMs: 168 * 3_600_000 });
    assert.equal(config.notifications.endpoints[0]?.timeout, 1000);
    assert.equal(config.auth.htpasswd?.path, '/path/to/htpasswd');

    const warned = result.notices.filter((n) => n.level === 'warn').map((n) => n.key).sort();
    assert.deepEqual(warned, [
      'catalog.maxentries',
      'compatibility',
      'health',
      'http.debug.addr',
      'http.tls.ciphersuites',
      'http.tls.letsencrypt',
      'log.accesslog.disabled',
      'log.formatter',
      'middleware',
      'policy.repository.classes',
      'reporting',
      'validation',
    ]);
    const noted = result.notices.filter((n) => n.level === 'info').map((n) => n.key);
    for (const key of ['loglevel', 'storage.cache', 'redis', 'http.host', 'http.secret', 'storage.filesystem.maxthreads']) assert.ok(noted.includes(key), key);
    // Secrets are configuration, never notice text.
    assert.ok(!JSON.stringify(result.notices).includes('asecretforlocaldevelopment'));
    assert.ok(!JSON.stringify(result.notices).includes('something'));
  });

  it('keeps scalars as written and gives them the type of their key', () => {
    const config = ok(
      loadConfig({
        text: 'version: "0.1"\nstorage: filesystem\nhttp:\n  secret: 0123\n  relativeurls: yes\n  draintimeout: 1h30m\n  host: ~\nlog:\n  level: WARN\n',
        env: {},
      }),
    );
    assert.equal(config.http.secret, '0123');
    assert.equal(config.http.relativeurls, true);
    assert.equal(config.http.draintimeout, 90 * 60_000);
    assert.equal(config.http.host, undefined);
    assert.equal(config.log.level, 'warn');
    assert.deepEqual(config.storage?.filesystem, { rootdirectory: '/var/lib/registry' });
    assert.equal(parseConfigDuration('300ms'), 300);
    assert.equal(parseConfigDuration('1000000'), 1, 'a bare number is nanoseconds, as in Go');
    assert.equal(parseConfigDuration('5 minutes'), undefined);
  });

  it('without a file: filesystem storage in ./data and the defaults', () => {
    const settings = settingsFromConfig(ok(loadConfig({ env: {} })));
    assert.equal(settings.dataDir, './data');
    assert.equal(settings.addr, ':5000');
    assert.equal(settings.deleteEnabled, false);
    assert.equal(settings.readOnly, false);
    assert.equal(settings.tls, undefined);
    assert.equal(settings.drainTimeoutMs, 30_000);
    assert.equal(settings.shutdownDelayMs, 0);
    assert.deepEqual(settings.uploadPurging, { intervalMs: 24 * 3_600_000, maxAgeMs: 168 * 3_600_000 }, 'on by default, as in the reference');
  });

  it('upload purging does not run when disabled, as a dry run, or in read-only mode', () => {
    const purging = (lines: string) => settingsFromConfig(ok(loadConfig({ text: `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /d\n  maintenance:\n${lines}`, env: {} }))).uploadPurging;
    assert.equal(purging('    uploadpurging:\n      enabled: false\n'), undefined);
    assert.equal(purging('    uploadpurging:\n      dryrun: true\n'), undefined);
    assert.equal(purging('    readonly:\n      enabled: true\n'), undefined);
    assert.deepEqual(purging('    uploadpurging:\n      age: 2h\n      interval: 10m\n'), { intervalMs: 600_000, maxAgeMs: 7_200_000 });
  });
});

describe('configuration: environment and flags', () => {
  const FILE = [
    'version: 0.1',
    'storage:',
    '  filesystem:',
    '    rootdirectory: /from/file',
    '  delete:',
    '    enabled: false',
    'http:',
    '  addr: :5000',
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    'notifications:',
    '  endpoints:',
    '    - name: one',
    '      url: https://one.example/',
    '      disabled: true',
    '',
  ].join('\n');

  it('REGISTRY_* variables win over the file, flags win over both', () => {
    const env = {
      REGISTRY_HTTP_ADDR: '127.0.0.1:6000',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/from/env',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_LOG_LEVEL: 'error',
      REGISTRY_STORAGE_MAINTENANCE_READONLY: '{"enabled": true}',
      'REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS': '[nosniff, other]',
      REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL: 'https://changed.example/',
      REGISTRY_HTTP_SECRET: 'has # and : inside',
    };
    const fromEnv = settingsFromConfig(ok(loadConfig({ text: FILE, env })));
    assert.equal(fromEnv.addr, '127.0.0.1:6000');
    assert.equal(fromEnv.dataDir, '/from/env');
    assert.equal(fromEnv.deleteEnabled, true);
    assert.equal(fromEnv.logLevel, 'error');
    assert.equal(fromEnv.readOnly, true);
    assert.deepEqual(fromEnv.headers, { 'X-Content-Type-Options': ['nosniff', 'other'] }, 'matched the existing header without regard to case');
    assert.equal(fromEnv.config.notifications.endpoints[0]?.url, 'https://changed.example/');
    assert.equal(fromEnv.config.notifications.endpoints[0]?.name, 'one');
    assert.equal(fromEnv.config.http.secret, 'has # and : inside');

    const withFlags = settingsFromConfig(
      ok(loadConfig({ text: FILE, env, flags: { addr: ':7000', data: '/from/flag', logLevel: 'debug', drainTimeout: '5', shutdownDelay: '1.5' } })),
    );
    assert.equal(withFlags.addr, ':7000');
    assert.equal(withFlags.dataDir, '/from/flag');
    assert.equal(withFlags.logLevel, 'debug');
    assert.equal(withFlags.drainTimeoutMs, 5000);
    assert.equal(withFlags.shutdownDelayMs, 1500);
    assert.equal(withFlags.deleteEnabled, true, 'the environment still applies where no flag is given');
  });

  it('lexical order: a whole section from one variable, then a key inside it from another', () => {
    const config = ok(
      loadConfig({
        text: 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /file\n',
        env: { REGISTRY_STORAGE_DELETE: '{enabled: false}', REGISTRY_STORAGE_DELETE_ENABLED: 'true' },
      }),
    );
    assert.equal(config.storage?.delete.enabled, true);
  });

  it('variables naming no key are ignored with a warning (Kubernetes service variables)', () => {
    const result = loadConfig({
      text: FILE,
      env: { REGISTRY_PORT: 'tcp://10.0.0.1:5000', REGISTRY_SERVICE_HOST: '10.0.0.1', REGISTRY_CONFIGURATION_PATH: '/etc/x.yml', REGISTRY_HTTP_ADDR_PORT: '1', PATH: '/bin' },
    });
    ok(result);
    const messages = result.notices.map((n) => n.message).join('\n');
    assert.match(messages, /REGISTRY_PORT/);
    assert.match(messages, /REGISTRY_SERVICE_HOST/);
    assert.match(messages, /REGISTRY_HTTP_ADDR_PORT/);
    assert.doesNotMatch(messages, /REGISTRY_CONFIGURATION_PATH/);
  });

  it('a bad value from the environment or a flag names the variable or the flag', () => {
    const result = loadConfig({ text: FILE, env: { REGISTRY_STORAGE_DELETE_ENABLED: 'perhaps' }, flags: { drainTimeout: 'soon', addr: 'nowhere' } });
    const lines = result.problems.map(formatProblem);
    assert.ok(lines.some((l) => l.startsWith('REGISTRY_STORAGE_DELETE_ENABLED: storage.delete.enabled: expected true or false')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('--drain-timeout: http.draintimeout: expected a duration')), lines.join('\n'));
    assert.equal(result.config, undefined);
  });
});

describe('configuration: problems', () => {
  it('reports every problem of a file in one run, each with its line', () => {
    const text = [
      'version: 0.1', //                          1
      'log:', //                                  2
      '  level: loud', //                         3
      'storage:', //                              4
      '  filesytem:', //                          5
      '    rootdirectory: /data', //              6
      '  delete:', //                             7
      '    enabled: maybe', //                    8
      'http:', //                                 9
      '  addr: :5000', //                         10
      '  tls:', //                                11
      '    minimumtls: tls1.9', //                12
      '  draintimeout: 30 seconds', //            13
      'auth:', //                                 14
      '  htpasswd:', //                           15
      '    realm: r', //                          16
      '',
    ].join('\n');
    const result = loadConfig({ text, file: 'config.yml', env: {} });
    const lines = result.problems.map(formatProblem).sort();
    assert.deepEqual(lines, [
      'config.yml:12: http.tls.minimumtls: expected one of tls1.0, tls1.1, tls1.2, tls1.3, not "tls1.9"',
      'config.yml:13: http.draintimeout: expected a duration such as 300ms, 10s, 5m or 168h, not "30 seconds"',
      'config.yml:15: auth.htpasswd.path: required: a string',
      'config.yml:3: log.level: expected one of trace, debug, info, warn, error, fatal, silent, not "loud"',
      'config.yml:5: storage.filesytem: unknown key (did you mean filesystem?)',
      'config.yml:8: storage.delete.enabled: expected true or false, not "maybe"',
    ]);
  });

  it('checks across keys: one storage driver, TLS pairs, auth combinations, refused features', () => {
    const text = [
      'version: 0.1',
      'storage:',
      '  filesystem:',
      '    rootdirectory: /data',
      '  gcs:',
      '    bucket: b',
      'http:',
      '  addr: :5000',
      '  prefix: /registry',
      '  tls:',
      '    certificate: /cert.pem',
      'auth:',
      '  htpasswd:',
      '    path: /htpasswd',
      '  token:',
      '    realm: not a url',
      '    service: s',
      '    issuer: i',
      '    rootcertbundle: /bundle.pem',
      '',
    ].join('\n');
    const result = loadConfig({ text, file: 'config.yml', env: {} });
    const lines = result.problems.map(formatProblem).sort();
    assert.deepEqual(lines, [
      'config.yml:12: auth: exactly one of htpasswd or token, unless Pier issues the tokens itself (auth.token.signingkey)',
      'config.yml:16: auth.token.realm: expected an absolute http(s) URL, not "not a url"',
      'config.yml:2: storage: exactly one storage driver, not 2 (filesystem, gcs)',
      'config.yml:5: storage.gcs: storage driver not supported by Pier yet: use storage.filesystem, s3 or azure',
      'config.yml:9: http.prefix: not supported yet: Pier serves the API at /v2/ only (strip the prefix in the proxy in front)',
      'config.yml:9: http.tls.key: http.tls needs both certificate and key',
    ].map((l) => l.replace('config.yml:9: http.tls.key', 'config.yml:10: http.tls.key')).sort());
  });

  it('a file without storage is refused, as the reference registry refuses it', () => {
    const result = loadConfig({ text: 'version: 0.1\nhttp:\n  addr: :5000\n', file: 'c.yml', env: {} });
    assert.deepEqual(result.problems.map(formatProblem), ['c.yml: storage: required: a storage driver section (storage.filesystem, s3 or azure)']);
  });

  it('YAML syntax errors and an unsupported version are reported', () => {
    const broken = loadConfig({ text: 'version: 0.1\nstorage:\n  filesystem: [\n', file: 'c.yml', env: {} });
    assert.ok(broken.problems.length > 0);
    assert.match(formatProblem(broken.problems[0]!), /^c\.yml:\d+: not valid YAML/);
    const version = loadConfig({ text: 'version: 0.2\nstorage: filesystem\n', file: 'c.yml', env: {} });
    assert.deepEqual(version.problems.map(formatProblem), ['c.yml:1: version: unsupported version "0.2": Pier reads version 0.1']);
  });
});

describe('docs/configuration.md', () => {
  const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const rows = new Map<string, string>();
  for (const line of docs.split('\n')) {
    const m = /^\| `([^`]+)` \|/.exec(line);
    if (m) rows.set(m[1]!, line);
  }

  it('documents every key of the schema, and only those', () => {
    const keys = schemaKeys();
    assert.deepEqual(keys.filter((k) => !rows.has(k)), [], 'keys missing from docs/configuration.md');
    assert.deepEqual([...rows.keys()].filter((k) => !keys.includes(k)), [], 'docs/configuration.md documents keys the schema does not have');
  });

  it('marks every Pier-only key', () => {
    for (const [key, row] of rows) {
      const pierOnly = PIER_ONLY_KEYS.some((p) => key === p || key.startsWith(`${p}.`));
      assert.equal(row.includes('Pier-only'), pierOnly, `${key}: ${row}`);
    }
  });
});
