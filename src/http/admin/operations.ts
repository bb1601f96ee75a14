/**
 * The operations resources, for admins: `rules` (retention, immutable tags, quotas with their usage, the
 * access policy, the GC schedule), `storage` (bytes per repository and namespace) and `users` (the htpasswd
 * users with their role, groups and API tokens), `gc-runs` (what each garbage collection freed) and `activity`
 * (pushes, pulls and bytes stored per day).
 */
import { browsing, intParam, iso, json, type AdminRequest, type AdminRoute } from './admin-context.ts';
import { usageReport } from './usage-report.ts';
import { utcDay } from '../../browse/activity-recorder.ts';

async function rules(r: AdminRequest): Promise<void> {
  const { deps } = r;
  const quotas = [];
  for (const q of deps.quotas) {
    const scope = 'repository' in q ? { repository: q.repository } : { namespace: q.namespace };
    quotas.push({ ...scope, limit: q.limitBytes, usage: (await usageReport(deps.index, [], scope)).usage });
  }
  const policy = deps.accessPolicy;
  json(r.res, 200, {
    deleteEnabled: deps.deleteEnabled,
    readOnly: deps.readOnly,
    retention: deps.retention.map((x) => ({ repository: x.repository, keepLast: x.keepLast ?? null, keepTags: x.keepTags ?? [], maxAgeMs: x.maxAgeMs ?? null })),
    immutableTags: deps.immutableTags.map((x) => ({ repository: x.repository, tag: x.tag })),
    quotas,
    gc: deps.gc ?? null,
    access: {
      authentication: deps.access ? (deps.access.token ? 'token' : 'htpasswd') : 'none',
      policy: policy
        ? { admins: policy.admins, anonymous: policy.anonymous, namespaces: policy.namespaces, groups: policy.groups, rules: policy.rules }
        : null,
    },
  });
}

async function storage(r: AdminRequest): Promise<void> {
  const { browse } = browsing(r.deps);
  const repositories = (await browse.repositories()).sort((a, b) => b.sizeBytes - a.sizeBytes || (a.name < b.name ? -1 : 1));
  const namespaces = new Map<string, number>();
  for (const repo of repositories) {
    const ns = repo.name.split('/')[0]!;
    if (!namespaces.has(ns)) namespaces.set(ns, (await usageReport(r.deps.index, [], { namespace: ns })).usage);
  }
  json(r.res, 200, {
    repositories: repositories.map((x) => ({ name: x.name, sizeBytes: x.sizeBytes, tagCount: x.tagCount, lastPushAt: iso(x.lastPushAt) })),
    namespaces: [...namespaces].map(([namespace, sizeBytes]) => ({ namespace, sizeBytes })).sort((a, b) => b.sizeBytes - a.sizeBytes),
  });
}

async function users(r: AdminRequest): Promise<void> {
  const { access, apiTokens, accessPolicy } = r.deps;
  const tokens = await apiTokens.list();
  const names = new Set<string>(access?.htpasswd?.names() ?? []);
  for (const t of tokens) names.add(t.user);
  const groupsOf = (user: string): string[] => Object.entries(accessPolicy?.groups ?? {}).filter(([, members]) => members.includes(user)).map(([g]) => g);
  json(r.res, 200, {
    users: [...names].sort().map((user) => ({
      user,
      inHtpasswd: access?.htpasswd?.has(user) ?? false,
      admin: (access?.policy.enabled ?? false) && access!.policy.isAdmin(user),
      groups: groupsOf(user),
      tokens: tokens.filter((t) => t.user === user).length,
    })),
  });
}

async function dailyActivity(r: AdminRequest): Promise<void> {
  const { browse } = browsing(r.deps);
  const days = intParam(r.query, 'days', 30, 1, 366);
  if (r.deps.activity) {
    r.deps.activity.measure();
    await r.deps.activity.flush();
  }
  const first = new Date(Date.now() - (days - 1) * 86_400_000);
  const known = new Map((await browse.dailyActivity(utcDay(first))).map((d) => [d.day, d]));
  const series = [];
  for (let i = 0; i < days; i++) {
    const day = utcDay(new Date(first.getTime() + i * 86_400_000));
    series.push(known.get(day) ?? { day, pushes: 0, pulls: 0, storedBytes: null });
  }
  json(r.res, 200, { days: series });
}

async function gcRuns(r: AdminRequest): Promise<void> {
  const limit = intParam(r.query, 'limit', 50, 1, 1000);
  const runs = (await r.deps.gcRuns?.recent(limit)) ?? [];
  json(r.res, 200, { runs: runs.map((run) => ({ ...run, startedAt: run.startedAt.toISOString() })) });
}

export const routes: AdminRoute[] = [
  {
    id: 'admin-rules',
    path: 'rules',
    pattern: /^rules$/,
    params: [],
    methods: {
      GET: { summary: 'Retention, immutable tags, quotas with their usage, the access policy and the GC schedule.', audience: 'admin', handler: rules, success: { status: 200, description: '{retention, immutableTags, quotas, gc, access}' } },
    },
  },
  {
    id: 'admin-storage',
    path: 'storage',
    pattern: /^storage$/,
    params: [],
    methods: {
      GET: { summary: 'Bytes linked per repository (largest first) and per namespace.', audience: 'admin', handler: storage, success: { status: 200, description: '{repositories, namespaces}' } },
    },
  },
  {
    id: 'admin-users',
    path: 'users',
    pattern: /^users$/,
    params: [],
    methods: {
      GET: { summary: 'The htpasswd users with their role, groups and number of API tokens.', audience: 'admin', handler: users, success: { status: 200, description: '{users: [{user, admin, groups, tokens}]}' } },
    },
  },
  {
    id: 'admin-gc-runs',
    path: 'gc-runs',
    pattern: /^gc-runs$/,
    params: [],
    methods: {
      GET: {
        summary: 'Recorded garbage collection runs (scheduled and `pier gc`), newest first, with what each freed.',
        audience: 'admin',
        handler: gcRuns,
        query: [{ name: 'limit', description: 'how many (1 to 1000, default 50)', schema: { type: 'integer', minimum: 1, maximum: 1000 } }],
        success: { status: 200, description: '{runs: [{startedAt, durationMs, trigger, tagsDeleted, manifestsDeleted, blobsDeleted, bytesFreed}]}' },
      },
    },
  },
  {
    id: 'admin-activity',
    path: 'activity',
    pattern: /^activity$/,
    params: [],
    methods: {
      GET: {
        summary: 'Pushes and pulls per UTC day and the bytes stored each day, oldest first (days without records have zeros and null).',
        audience: 'admin',
        handler: dailyActivity,
        query: [{ name: 'days', description: 'how many days up to today (1 to 366, default 30)', schema: { type: 'integer', minimum: 1, maximum: 366 } }],
        success: { status: 200, description: '{days: [{day, pushes, pulls, storedBytes}]}' },
      },
    },
  },
];
