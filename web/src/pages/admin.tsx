// Operations pages for admins: storage per repository and namespace, the lifecycle and access rules with
// quota usage, and the users.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { ErrorNote, KeyValues, Loading, TableRegion } from '../components/common.tsx';
import { ago, bytes, dateTime } from '../format.ts';
import { links } from '../router.ts';
import { BarChart } from '../components/bar-chart.tsx';

function useApi<T>(path: string): [T | null, unknown] {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<T>(path).then(setData).catch((e: unknown) => setError(e));
  }, [path]);
  return [data, error];
}

function Meter({ value, max, label }: { value: number; max: number; label: string }) {
  return <meter min={0} max={Math.max(max, 1)} value={value} aria-label={label} />;
}

interface StorageReport {
  repositories: Array<{ name: string; sizeBytes: number; tagCount: number; lastPushAt: string | null }>;
  namespaces: Array<{ namespace: string; sizeBytes: number }>;
}

interface GcRun {
  startedAt: string;
  durationMs: number;
  trigger: 'schedule' | 'command';
  tagsDeleted: number;
  manifestsDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
}

function GcRuns() {
  const [data, error] = useApi<{ runs: GcRun[] }>('gc-runs?limit=20');
  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading what="garbage collection runs" />;
  if (data.runs.length === 0) return <p class="muted">No garbage collection has run yet (scheduled: lifecycle.gc; on demand: pier gc).</p>;
  return (
    <TableRegion label="Garbage collection runs">
      <table class="data">
        <thead>
          <tr>
            <th scope="col">Started</th>
            <th scope="col">By</th>
            <th scope="col" class="num">Freed</th>
            <th scope="col" class="num">Blobs</th>
            <th scope="col" class="num">Manifests</th>
            <th scope="col" class="num">Tags (retention)</th>
            <th scope="col" class="num">Took</th>
          </tr>
        </thead>
        <tbody>
          {data.runs.map((run) => (
            <tr key={run.startedAt}>
              <td>{dateTime(run.startedAt)}</td>
              <td>{run.trigger === 'schedule' ? 'schedule' : 'pier gc'}</td>
              <td class="num">{bytes(run.bytesFreed)}</td>
              <td class="num">{run.blobsDeleted}</td>
              <td class="num">{run.manifestsDeleted}</td>
              <td class="num">{run.tagsDeleted}</td>
              <td class="num">{(run.durationMs / 1000).toFixed(1)} s</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableRegion>
  );
}

interface DayActivity {
  day: string;
  pushes: number;
  pulls: number;
  storedBytes: number | null;
}

function ActivityCharts() {
  const [data, error] = useApi<{ days: DayActivity[] }>('activity?days=30');
  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading what="activity" />;
  const days = data.days.map((d) => d.day);
  // A day without a measurement carries the previous one (storage only changes when measured).
  let last = 0;
  const stored = data.days.map((d) => (last = d.storedBytes ?? last));
  return (
    <>
      <div class="charts">
        <BarChart
          title="Pushes and pulls per day"
          days={days}
          series={[
            { label: 'pushes', values: data.days.map((d) => d.pushes), className: 'series-a' },
            { label: 'pulls', values: data.days.map((d) => d.pulls), className: 'series-b' },
          ]}
        />
        <BarChart title="Bytes stored" days={days} series={[{ label: 'stored', values: stored, className: 'series-a' }]} format={bytes} />
      </div>
      <details>
        <summary>The numbers</summary>
        <TableRegion label="Activity per day">
          <table class="data">
            <thead>
              <tr>
                <th scope="col">Day (UTC)</th>
                <th scope="col" class="num">Pushes</th>
                <th scope="col" class="num">Pulls</th>
                <th scope="col" class="num">Stored</th>
              </tr>
            </thead>
            <tbody>
              {data.days.map((d) => (
                <tr key={d.day}>
                  <th scope="row">{d.day}</th>
                  <td class="num">{d.pushes}</td>
                  <td class="num">{d.pulls}</td>
                  <td class="num">{d.storedBytes === null ? '—' : bytes(d.storedBytes)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      </details>
    </>
  );
}

export function StoragePage() {
  const [data, error] = useApi<StorageReport>('storage');
  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading what="storage" />;
  const largest = data.repositories[0]?.sizeBytes ?? 1;
  const largestNs = data.namespaces[0]?.sizeBytes ?? 1;
  return (
    <section>
      <h1>Storage</h1>
      <p class="muted">Bytes of the distinct blobs linked into each repository (a blob shared by two repositories counts in both).</p>
      <h2>Activity, last 30 days</h2>
      <ActivityCharts />
      <h2>Garbage collection runs</h2>
      <GcRuns />
      <h2>Namespaces</h2>
      <TableRegion label="Storage per namespace">
        <table class="data">
          <thead>
            <tr>
              <th scope="col">Namespace</th>
              <th scope="col" class="num">Size</th>
              <th scope="col">Share</th>
            </tr>
          </thead>
          <tbody>
            {data.namespaces.slice(0, 200).map((n) => (
              <tr key={n.namespace}>
                <th scope="row">{n.namespace}</th>
                <td class="num">{bytes(n.sizeBytes)}</td>
                <td>
                  <Meter value={n.sizeBytes} max={largestNs} label={`${n.namespace}: ${bytes(n.sizeBytes)}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
      <h2>Repositories (largest first)</h2>
      <TableRegion label="Storage per repository">
        <table class="data">
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col" class="num">Size</th>
              <th scope="col" class="num">Tags</th>
              <th scope="col">Last push</th>
              <th scope="col">Share</th>
            </tr>
          </thead>
          <tbody>
            {data.repositories.slice(0, 200).map((r) => (
              <tr key={r.name}>
                <th scope="row">
                  <a href={links.repository(r.name)}>{r.name}</a>
                </th>
                <td class="num">{bytes(r.sizeBytes)}</td>
                <td class="num">{r.tagCount}</td>
                <td>{ago(r.lastPushAt)}</td>
                <td>
                  <Meter value={r.sizeBytes} max={largest} label={`${r.name}: ${bytes(r.sizeBytes)}`} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
      {data.repositories.length > 200 ? <p class="muted">The 200 largest of {data.repositories.length} repositories are shown.</p> : null}
    </section>
  );
}

interface Rules {
  deleteEnabled: boolean;
  readOnly: boolean;
  retention: Array<{ repository: string; keepLast: number | null; keepTags: string[]; maxAgeMs: number | null }>;
  immutableTags: Array<{ repository: string; tag: string }>;
  quotas: Array<{ repository?: string; namespace?: string; limit: number; usage: number }>;
  gc: null | { intervalMs: number; gracePeriodMs: number; deleteUntagged: boolean; keepReferrers: boolean };
  access: { authentication: string; policy: null | { admins: string[]; anonymous: string[]; namespaces: boolean; groups: Record<string, string[]>; rules: Array<{ repositories: string[]; users: string[]; groups: string[]; actions: string[] }> } };
}

const hours = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 60_000)}m`);

export function RulesPage() {
  const [rules, error] = useApi<Rules>('rules');
  if (error) return <ErrorNote error={error} />;
  if (!rules) return <Loading what="rules" />;
  const policy = rules.access.policy;
  return (
    <section>
      <h1>Rules</h1>
      <KeyValues
        label="Registry"
        entries={[
          ['Deletes', rules.deleteEnabled ? 'enabled' : 'disabled (storage.delete.enabled)'],
          ['Mode', rules.readOnly ? 'read-only' : 'read-write'],
          ['Authentication', rules.access.authentication],
          ['Scheduled GC', rules.gc ? `every ${hours(rules.gc.intervalMs)}, grace ${hours(rules.gc.gracePeriodMs)}${rules.gc.deleteUntagged ? ', deletes untagged manifests' : ''}` : 'off'],
        ]}
      />
      <h2>Quotas</h2>
      {rules.quotas.length === 0 ? (
        <p class="muted">No quotas.</p>
      ) : (
        <TableRegion label="Quotas">
          <table class="data">
            <thead>
              <tr>
                <th scope="col">Scope</th>
                <th scope="col" class="num">Used</th>
                <th scope="col" class="num">Limit</th>
                <th scope="col">Usage</th>
              </tr>
            </thead>
            <tbody>
              {rules.quotas.map((q, i) => (
                <tr key={i}>
                  <th scope="row">{q.repository ? `repository ${q.repository}` : `namespace ${q.namespace}`}</th>
                  <td class="num">{bytes(q.usage)}</td>
                  <td class="num">{bytes(q.limit)}</td>
                  <td>
                    <Meter value={q.usage} max={q.limit} label={`${bytes(q.usage)} of ${bytes(q.limit)}`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      <h2>Retention</h2>
      {rules.retention.length === 0 ? (
        <p class="muted">No retention rules.</p>
      ) : (
        <ul>
          {rules.retention.map((r, i) => (
            <li key={i}>
              <code>{r.repository}</code>: {r.keepLast !== null ? `keep the last ${r.keepLast} tags` : ''}
              {r.maxAgeMs !== null ? `, keep tags pushed within ${hours(r.maxAgeMs)}` : ''}
              {r.keepTags.length > 0 ? `, always keep ${r.keepTags.join(', ')}` : ''}
            </li>
          ))}
        </ul>
      )}
      <h2>Immutable tags</h2>
      {rules.immutableTags.length === 0 ? (
        <p class="muted">No immutable tags.</p>
      ) : (
        <ul>
          {rules.immutableTags.map((r, i) => (
            <li key={i}>
              <code>{r.repository}</code> : <code>{r.tag}</code>
            </li>
          ))}
        </ul>
      )}
      <h2>Access policy</h2>
      {!policy ? (
        <p class="muted">No policy: every signed-in user may do everything; anonymous users nothing.</p>
      ) : (
        <>
          <KeyValues
            label="Access policy"
            entries={[
              ['Admins', policy.admins.join(', ') || '—'],
              ['Anonymous pull', policy.anonymous.join(', ') || '—'],
              ['Own namespaces', policy.namespaces ? 'every user owns <user>/**' : 'no'],
              ['Groups', Object.entries(policy.groups).map(([g, m]) => `${g}: ${m.join(', ')}`).join('; ') || '—'],
            ]}
          />
          <TableRegion label="Access rules">
            <table class="data">
              <thead>
                <tr>
                  <th scope="col">Repositories</th>
                  <th scope="col">Users</th>
                  <th scope="col">Groups</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {policy.rules.map((r, i) => (
                  <tr key={i}>
                    <td>{r.repositories.join(', ')}</td>
                    <td>{r.users.join(', ') || '—'}</td>
                    <td>{r.groups.join(', ') || '—'}</td>
                    <td>{r.actions.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableRegion>
        </>
      )}
    </section>
  );
}

export function UsersPage() {
  const [data, error] = useApi<{ users: Array<{ user: string; inHtpasswd: boolean; admin: boolean; groups: string[]; tokens: number }> }>('users');
  if (error) return <ErrorNote error={error} />;
  if (!data) return <Loading what="users" />;
  return (
    <section>
      <h1>Users</h1>
      <p class="muted">Users come from the htpasswd file (manage them with <code>pier user</code>).</p>
      <TableRegion label="Users">
        <table class="data">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Groups</th>
              <th scope="col" class="num">API tokens</th>
            </tr>
          </thead>
          <tbody>
            {data.users.map((u) => (
              <tr key={u.user}>
                <th scope="row">{u.user}</th>
                <td>{u.admin ? 'admin' : u.inHtpasswd ? 'user' : 'removed'}</td>
                <td>{u.groups.join(', ') || '—'}</td>
                <td class="num">
                  <a href={`#/tokens?user=${encodeURIComponent(u.user)}`} aria-label={`${u.tokens} API tokens of ${u.user}`}>
                    {u.tokens}
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableRegion>
    </section>
  );
}
