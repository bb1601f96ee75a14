/**
 * The configuration schema: one place for the keys, their types, defaults and validation. It reads the
 * reference registry's config.yml (version 0.1) and Pier's own keys (marked "Pier-only" in
 * docs/configuration.md, which a test keeps in step with this file). Unknown keys are errors.
 *
 * Scalars arrive as text (yaml-source.ts); the helpers below give text its meaning per field, the way the
 * reference's Go decoder does: booleans, integers, Go durations (`300ms`, `10s`, `168h`, returned in ms).
 */
import { z } from 'zod';

// The configuration is parsed once per process: zod's compiled fast path (code generated per object schema
// on first use) costs more at that first parse than it saves (measured: 17 ms of a start). Set before any
// schema is built, as zod reads it then; zod validates nothing else in Pier.
z.config({ jitless: true });

const TRUE = new Set(['true', 'yes', 'on', 'y']);
const FALSE = new Set(['false', 'no', 'off', 'n']);

const nullToUndefined = (v: unknown): unknown => (v === null ? undefined : v);

export const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return nullToUndefined(v);
    const lower = v.trim().toLowerCase();
    return TRUE.has(lower) ? true : FALSE.has(lower) ? false : v;
  }, z.boolean({ error: expected(`true or false`) }));

export const int = (min = 0) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : nullToUndefined(v)),
    z.number({ error: expected(`a whole number`) }).int().min(min, `must be at least ${min}`),
  );

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`1h30m`, `300ms`) in milliseconds; a bare integer is nanoseconds, as in Go. */
export function parseConfigDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t) / 1e6;
  if (t === '0') return 0;
  const part = /(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(t); m; m = part.exec(t)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = part.lastIndex;
  }
  return consumed === t.length && consumed > 0 ? total : undefined;
}

export const duration = () =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (parseConfigDuration(v) ?? v) : nullToUndefined(v)),
    z.number({ error: expected(`a duration such as 300ms, 10s, 5m or 168h`) }).min(0),
  );

export const str = () => z.preprocess(nullToUndefined, z.string({ error: expected(`a string`) }));

/** A list; a single scalar is taken as a list of one. */
export const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? [v] : nullToUndefined(v)), z.array(item, { error: expected(`a list`) }));

const sections = new WeakSet<object>();

/**
 * A null value (`key: ~`, `key:`) means "not set" for a plain key, so it is dropped; for a section it means
 * "present, all defaults" (`storage: { filesystem: ~ }` selects the driver), so it is kept.
 */
function dropNullLeaves(shape: Record<string, unknown>, value: unknown): unknown {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null && !isSection(shape[key])) continue;
    out[key] = v;
  }
  return out;
}

function isSection(schema: unknown): boolean {
  let s = schema as { _zod?: { def: Record<string, unknown> & { type: string } } } | undefined;
  while (s?._zod && (s._zod.def.type === 'optional' || s._zod.def.type === 'default')) s = s._zod.def.innerType as typeof s;
  return s !== undefined && sections.has(s);
}

/** A section of fixed keys; absent or empty (`key:`) means all defaults. */
export const section = <T extends z.core.$ZodLooseShape>(shape: T) => {
  const schema = z.preprocess((v) => dropNullLeaves(shape, v), z.strictObject(shape, { error: expected(`a section of keys`) }));
  sections.add(schema);
  return schema;
};

const stringMap = <T extends z.ZodType>(value: T) =>
  z.preprocess((v) => v ?? {}, z.record(z.string(), value, { error: expected(`a map`) }));

/** An error message for a field: what it takes, and what it got (or that it is missing). */
function expected(what: string) {
  return (issue: { input?: unknown }): string => (issue.input === undefined ? `required: ${what}` : `expected ${what}, not ${show(issue.input)}`);
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object' && value !== null) return 'a section';
  return JSON.stringify(value);
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const TLS_VERSIONS = ['tls1.0', 'tls1.1', 'tls1.2', 'tls1.3'] as const;
export const ACTIONS = ['pull', 'push', 'delete', '*'] as const;
export const INDEX_BACKENDS = ['sqlite', 'postgres'] as const;
export const POSTGRES_SSL_MODES = ['disable', 'require', 'verify-full'] as const;

const level = () =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : nullToUndefined(v)),
    z.enum(LOG_LEVELS, { error: expected(`one of ${LOG_LEVELS.join(', ')}`) }),
  );

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** A size in bytes: a whole number, or a number with a unit (`500MB`, `10GiB`). */
export const size = () =>
  z.preprocess(
    (v) => {
      if (typeof v !== 'string') return nullToUndefined(v);
      const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
      const unit = SIZE_UNITS[(m?.[2] || 'b').toLowerCase()];
      return m && unit ? Math.round(Number(m[1]) * unit) : v;
    },
    z.number({ error: expected(`a size such as 1048576, 500MB or 10GiB`) }).int().min(0),
  );

/** Storage drivers of the reference registry that Pier knows of but does not serve from yet. */
export const OTHER_STORAGE_DRIVERS = ['inmemory', 'gcs', 'swift', 'oss'] as const;
/** Storage drivers Pier serves from. */
export const STORAGE_DRIVERS = ['filesystem', 's3', 'azure'] as const;

const anyValue = z.unknown();

/** A storage driver Pier does not serve: accepted by the schema, refused by checks.ts with a clear message. */
const driverSection = z.unknown().optional();
sections.add(driverSection);

const storageShape = {
      filesystem: section({
        rootdirectory: str().default('/var/lib/registry'),
        maxthreads: int(25).optional(),
      }).optional(),
      // The reference's s3-aws driver keys (registry/storage/driver/s3-aws).
      s3: section({
        region: str(),
        bucket: str(),
        regionendpoint: str().optional(),
        forcepathstyle: bool().optional(),
        accesskey: str().optional(),
        secretkey: str().optional(),
        sessiontoken: str().optional(),
        encrypt: bool().default(false),
        keyid: str().optional(),
        secure: bool().default(true),
        skipverify: bool().default(false),
        v4auth: bool().default(true),
        chunksize: size().default(10 * 1024 * 1024),
        multipartcopychunksize: size().default(32 * 1024 * 1024),
        multipartcopymaxconcurrency: int(1).default(100),
        multipartcopythresholdsize: size().default(32 * 1024 * 1024),
        rootdirectory: str().default(''),
        storageclass: str().default('STANDARD'),
        objectacl: str().optional(),
        useragent: str().optional(),
        usedualstack: bool().default(false),
        accelerate: bool().default(false),
        usefipsendpoint: bool().default(false),
        redirectendpoint: str().optional(),
        loglevel: str().optional(),
      }).optional(),
      // The reference's azure driver keys, plus Pier's serviceurl and connectionstring (Azurite, sovereign clouds).
      azure: section({
        accountname: str().optional(),
        accountkey: str().optional(),
        container: str(),
        realm: str().default('core.windows.net'),
        rootdirectory: str().default(''),
        credentials: section({ type: str().optional(), clientid: str().optional(), tenantid: str().optional(), secret: str().optional() }).optional(),
        max_retries: int().optional(),
        retry_delay: duration().optional(),
        serviceurl: str().optional(),
        connectionstring: str().optional(),
      }).optional(),
      ...Object.fromEntries(OTHER_STORAGE_DRIVERS.map((d) => [d, driverSection])),
      delete: section({ enabled: bool().default(false) }),
      redirect: section({ disable: bool().default(false) }),
      cache: section({ blobdescriptor: str().optional(), blobdescriptorsize: int().optional() }),
      maintenance: section({
        uploadpurging: section({
          enabled: bool().default(true),
          age: duration().default(168 * 3_600_000),
          interval: duration().default(24 * 3_600_000),
          dryrun: bool().default(false),
        }),
        readonly: section({ enabled: bool().default(false) }),
      }),
      tag: section({ concurrencylimit: int(1).optional() }),
};

const storage = z.preprocess(
  (v) => (typeof v === 'string' ? { [v]: null } : dropNullLeaves(storageShape, v)),
  z.strictObject(storageShape, { error: expected(`a storage section`) }),
);
sections.add(storage);

const headers = stringMap(list(str()));

const accessRule = z.strictObject({
  repositories: list(str()),
  users: list(str()).default([]),
  groups: list(str()).default([]),
  actions: list(z.enum(ACTIONS, { error: expected(`one of ${ACTIONS.join(', ')}`) })),
});


export const PROXY_MODES = ['proxied', 'local-first', 'local'] as const;

/** Keys every upstream of the pull-through cache has (the default one directly under `proxy`). */
const upstreamShape = {
  tagttl: duration().default(0),
  timeouts: section({ connect: duration().default(5_000), firstbyte: duration().default(30_000), idle: duration().default(30_000) }),
  realms: list(str()).default([]),
  allow: list(str()).default([]),
  deny: list(str()).default([]),
  mode: z.preprocess(nullToUndefined, z.enum(PROXY_MODES, { error: expected(`one of ${PROXY_MODES.join(', ')}`) })).default('proxied'),
};

const retentionRule = z.strictObject({
  repository: str(),
  keeplast: int().optional(),
  keeptags: list(str()).default([]),
  maxage: duration().optional(),
});

const immutableTagRule = z.strictObject({ repository: str(), tag: str() });

const quotaRule = z
  .strictObject({ repository: str().optional(), namespace: str().optional(), limit: size() })
  .refine((q) => (q.repository === undefined) !== (q.namespace === undefined), 'give exactly one of repository or namespace');

export const configSchema = section({
  version: z.preprocess(
    (v) => (v === null || v === undefined ? '0.1' : v),
    z.literal('0.1', { error: (issue) => `unsupported version ${show(issue.input)}: Pier reads version 0.1` }),
  ),
  log: section({
    level: level().optional(),
    formatter: z.preprocess(nullToUndefined, z.enum(['text', 'json', 'logstash'], { error: expected(`text, json or logstash`) })).optional(),
    fields: stringMap(anyValue),
    accesslog: section({ disabled: bool().default(false) }),
    hooks: z.array(anyValue).optional(),
    reportcaller: bool().optional(),
  }),
  /** Deprecated in the reference registry: use log.level. */
  loglevel: level().optional(),
  storage: storage.optional(),
  auth: section({
    htpasswd: section({ realm: str().default('Registry Realm'), path: str() }).optional(),
    token: section({
      realm: str(),
      service: str(),
      issuer: str(),
      rootcertbundle: str().optional(),
      jwks: str().optional(),
      autoredirect: bool().default(false),
      autoredirectpath: str().optional(),
      signingalgorithms: list(str()).optional(),
      // Pier-only: when set, Pier runs the token service itself and signs tokens with this key.
      signingkey: str().optional(),
      expiration: duration().default(5 * 60_000),
      refreshexpiration: duration().default(30 * 24 * 3_600_000),
    }).optional(),
    silly: section({ realm: str().optional(), service: str().optional() }).optional(),
  }),
  middleware: stringMap(anyValue),
  reporting: stringMap(anyValue),
  http: section({
    addr: str().default(':5000'),
    net: z.preprocess(nullToUndefined, z.enum(['tcp', 'unix'], { error: expected(`tcp or unix`) })).default('tcp'),
    host: str().optional(),
    prefix: str().optional(),
    secret: str().optional(),
    relativeurls: bool().default(false),
    draintimeout: duration().default(30_000),
    // Pier-only: keep serving this long with /readyz at 503 before closing the listener on SIGTERM.
    shutdowndelay: duration().default(0),
    // Pier-only: worker processes sharing the listener (absent: one per CPU core; 1: a single process).
    workers: int(1).optional(),
    // Pier-only: answer blob GETs with X-Accel-Redirect so a front nginx sends the file itself (sendfile).
    accelredirect: section({
      enabled: bool().default(false),
      prefix: z
        .preprocess(nullToUndefined, z.string({ error: expected(`a path`) }).regex(/^\/(?:[A-Za-z0-9._~-]+\/)*$/, 'must be a path that starts and ends with /, e.g. /_pier_storage/'))
        .default('/_pier_storage/'),
    }),
    tls: section({
      certificate: str().optional(),
      key: str().optional(),
      clientcas: list(str()).default([]),
      minimumtls: z.preprocess(
        (v) => (typeof v === 'string' ? v.trim().toLowerCase() : nullToUndefined(v)),
        z.enum(TLS_VERSIONS, { error: expected(`one of ${TLS_VERSIONS.join(', ')}`) }),
      ).default('tls1.2'),
      ciphersuites: list(str()).optional(),
      letsencrypt: section({
        cachefile: str().optional(),
        email: str().optional(),
        hosts: list(str()).optional(),
        directoryurl: str().optional(),
      }).optional(),
    }),
    headers,
    debug: section({
      addr: str().optional(),
      prometheus: section({ enabled: bool().default(false), path: str().default('/metrics') }),
    }),
    http2: section({ disabled: bool().default(false) }),
  }),
  notifications: section({
    events: section({
      includereferences: bool().default(false),
      // Pier-only: record events at all; pull events on or off, and the share of pulls sampled.
      enabled: bool().default(true),
      pulls: section({ enabled: bool().default(true), samplerate: z.preprocess((v) => (typeof v === 'string' ? Number(v) : nullToUndefined(v)), z.number({ error: expected('a number from 0 to 1') }).min(0).max(1)).default(1) }),
    }),
    endpoints: z.array(
      z.strictObject({
        name: str(),
        disabled: bool().default(false),
        url: str(),
        headers,
        timeout: duration().optional(),
        threshold: int().optional(),
        backoff: duration().optional(),
        ignoredmediatypes: list(str()).optional(),
        ignore: section({ mediatypes: list(str()).optional(), actions: list(str()).optional() }),
        // Pier-only per endpoint: payload format, envelope version, signing secret, attempts and backoff cap.
        format: z.enum(['reference', 'hub', 'cloudevents'], { error: expected('reference, hub or cloudevents') }).optional(),
        envelope: z.enum(['v1', 'v2'], { error: expected('v1 or v2') }).optional(),
        secret: str().optional(),
        maxattempts: int(1).optional(),
        maxbackoff: duration().optional(),
      }),
    ).default([]),
    // Pier-only: callback URLs' base, delivery log retention, and where API-created webhooks may send.
    callbackbaseurl: str().optional(),
    deliverylog: section({ maxage: duration().default(7 * 24 * 3_600_000) }),
    webhooks: section({
      allow: list(str()).default([]),
      deny: list(str()).default([]),
      timeout: duration().default(5_000),
      maxattempts: int(1).default(20),
    }),
  }),
  redis: stringMap(anyValue),
  health: section({
    storagedriver: section({ enabled: bool().default(false), interval: duration().optional(), threshold: int().optional() }),
    file: z.array(anyValue).optional(),
    http: z.array(anyValue).optional(),
    tcp: z.array(anyValue).optional(),
  }),
  catalog: section({ maxentries: int().optional() }),
  proxy: section({
    remoteurl: str().optional(),
    username: str().optional(),
    password: str().optional(),
    ttl: duration().optional(),
    // Pier-only: how the default upstream (remoteurl) behaves, and more upstreams selected by prefix.
    ...upstreamShape,
    notfoundttl: duration().default(10_000),
    cache: section({ maxsize: size().optional(), maxage: duration().optional(), interval: duration().default(600_000) }),
    upstreams: z.array(z.strictObject({ name: str(), prefix: str(), remoteurl: str(), username: str().optional(), password: str().optional(), ...upstreamShape })).default([]),
  }),
  compatibility: stringMap(anyValue),
  validation: section({
    enabled: bool().optional(),
    disabled: bool().optional(),
    manifests: section({ urls: section({ allow: list(str()).optional(), deny: list(str()).optional() }) }),
  }),
  policy: section({ repository: section({ classes: list(str()).optional() }) }),
  // Pier-only: garbage collection on a schedule, retention, immutable tags and quotas.
  lifecycle: section({
    gc: section({
      enabled: bool().default(false),
      interval: duration().default(24 * 3_600_000),
      grace: duration().default(3_600_000),
      deleteuntagged: bool().default(false),
      keepreferrers: bool().default(true),
    }),
    retention: z.array(retentionRule).default([]),
    immutabletags: z.array(immutableTagRule).default([]),
    quotas: z.array(quotaRule).default([]),
  }),
  // Pier-only: the web UI served by `pier serve`.
  web: section({
    enabled: bool().default(true),
    path: z.preprocess(
      nullToUndefined,
      z
        .string({ error: expected(`a path such as / or /ui/`) })
        .regex(/^\/(?:[A-Za-z0-9._~-]+\/)*(?:[A-Za-z0-9._~-]+)?$/, 'a path such as / or /ui/ (letters, digits, . _ ~ -)')
        .refine((p) => !/^\/(?:v2|pier|metrics|healthz|readyz)(?:\/|$)/.test(p), 'must not be under /v2, /pier, /metrics, /healthz or /readyz'),
    ).default('/'),
  }),
  // Pier-only: where the metadata index lives (SQLite in the data directory, or PostgreSQL shared by replicas).
  index: section({
    backend: z.preprocess(
      (v) => (typeof v === 'string' ? v.trim().toLowerCase() : nullToUndefined(v)),
      z.enum(INDEX_BACKENDS, { error: expected(`one of ${INDEX_BACKENDS.join(', ')}`) }),
    ).default('sqlite'),
    sqlite: section({ path: str().optional() }),
    postgres: section({
      url: str().optional(),
      host: str().optional(),
      port: int(1).optional(),
      database: str().optional(),
      user: str().optional(),
      password: str().optional(),
      passwordfile: str().optional(),
      sslmode: z.preprocess(
        (v) => (typeof v === 'string' ? v.trim().toLowerCase() : nullToUndefined(v)),
        z.enum(POSTGRES_SSL_MODES, { error: expected(`one of ${POSTGRES_SSL_MODES.join(', ')}`) }),
      ).default('disable'),
      cafile: str().optional(),
      poolsize: int(1).default(10),
      connecttimeout: duration().default(10_000),
    }),
  }),
  // Pier-only: automated builds, build triggers and repository links (docs/builds.md).
  builds: section({
    enabled: bool().default(false),
    concurrency: int(1).default(2),
    timeout: duration().default(3_600_000),
    workdir: str().optional(),
    registryhosts: list(str()).default([]),
    sourcehosts: list(str()).default([]),
    // Checked in full by the builds module (the same rules as the admin API's).
    definitions: z.array(anyValue).default([]),
  }),
  // Pier-only: who may do what, and limits on failed logins.
  access: section({
    loginlimit: section({
      maxfailures: int(0).default(5),
      addressmaxfailures: int(0).default(100),
      window: duration().default(60_000),
    }),
    policy: section({
      admins: list(str()).default([]),
      groups: stringMap(list(str())),
      anonymous: list(str()).default([]),
      namespaces: bool().default(false),
      rules: z.array(accessRule).default([]),
    }).optional(),
  }),
});

export type PierConfig = z.output<typeof configSchema>;

/** Keys the reference registry does not have (docs/configuration.md marks each "Pier-only"). */
export const PIER_ONLY_KEYS = [
  'http.shutdowndelay',
  'http.workers',
  'http.accelredirect',
  'storage.azure.serviceurl',
  'storage.azure.connectionstring',
  'auth.token.signingkey',
  'auth.token.expiration',
  'auth.token.refreshexpiration',
  'access',
  'lifecycle',
  'proxy.tagttl',
  'proxy.timeouts',
  'proxy.realms',
  'proxy.allow',
  'proxy.deny',
  'proxy.mode',
  'proxy.notfoundttl',
  'proxy.cache',
  'proxy.upstreams',
  'proxy.upstreams[]',
  'index',
  'builds',
  'web',
  'notifications.events.enabled',
  'notifications.events.pulls',
  'notifications.endpoints[].format',
  'notifications.endpoints[].envelope',
  'notifications.endpoints[].secret',
  'notifications.endpoints[].maxattempts',
  'notifications.endpoints[].maxbackoff',
  'notifications.callbackbaseurl',
  'notifications.deliverylog',
  'notifications.webhooks',
] as const;
export type AccessRule = z.output<typeof accessRule>;

/**
 * Every key path the schema knows, for the documentation check: `http.tls.minimumtls`,
 * `notifications.endpoints[].url`, … Map entries appear as `<name>`.
 */
export function schemaKeys(schema: z.ZodType = configSchema, prefix = ''): string[] {
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
  switch (def.type) {
    case 'pipe':
      return schemaKeys(def.out as z.ZodType, prefix);
    case 'optional':
    case 'default':
    case 'nullable':
      return schemaKeys(def.innerType as z.ZodType, prefix);
    case 'object': {
      const keys: string[] = [];
      for (const [key, value] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const path = prefix ? `${prefix}.${key}` : key;
        keys.push(path, ...schemaKeys(value, path));
      }
      return keys;
    }
    case 'array':
      return schemaKeys(def.element as z.ZodType, `${prefix}[]`);
    default:
      return [];
  }
}
