// A repository: its figures, a copyable pull command with this registry's host, and its tags with digest,
// size, platforms and times; deleting a tag (with confirmation) is offered only to users allowed to.
import { useEffect, useState } from 'preact/hooks';
import { api, repoPath, type RepositoryDetail, type Session, type TagRow } from '../api.ts';
import { ConfirmDialog, CopyButton, ErrorNote, Loading, TableRegion } from '../components/common.tsx';
import { ago, bytes, dateTime, platform, shortDigest } from '../format.ts';
import { links } from '../router.ts';
import { RepositoryAutomation } from '../components/repository-automation.tsx';

export function RepositoryPage({ name, session }: { name: string; session: Session }) {
  const [detail, setDetail] = useState<RepositoryDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [client, setClient] = useState<'docker' | 'podman'>('docker');
  const [selected, setSelected] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<TagRow | null>(null);
  const [notice, setNotice] = useState('');

  const load = (): void => {
    api<RepositoryDetail>(`${repoPath(name)}/tags`)
      .then((d) => {
        setDetail(d);
        setError(null);
      })
      .catch((e: unknown) => setError(e));
  };
  useEffect(load, [name]);

  if (error && !detail) return <ErrorNote error={error} />;
  if (!detail) return <Loading what={name} />;
  const tag = selected ?? detail.tags[0]?.tag ?? 'latest';
  const command = `${client} pull ${session.registryHost}/${name}:${tag}`;
  const showPusher = detail.tags.some((t) => t.pushedBy !== null);
  const showPulled = detail.tags.some((t) => t.lastPulledAt !== null);

  return (
    <section>
      <nav aria-label="Breadcrumb" class="breadcrumb">
        <a href={links.repositories()}>Repositories</a> / <span aria-current="page">{name}</span>
      </nav>
      <h1 class="break">{name}</h1>
      <p class="figures">
        <span>{detail.tagCount === 1 ? '1 tag' : `${detail.tagCount} tags`}</span>
        <span>{bytes(detail.sizeBytes)}</span>
        <span>last push {ago(detail.lastPushAt)}</span>
      </p>

      <h2>Pull</h2>
      <div class="pull">
        <div class="field">
          <label for="pull-client">Client</label>
          <select id="pull-client" value={client} onChange={(e) => setClient(e.currentTarget.value as 'docker' | 'podman')}>
            <option value="docker">docker</option>
            <option value="podman">podman</option>
          </select>
        </div>
        {detail.tags.length > 1 ? (
          <div class="field">
            <label for="pull-tag">Tag</label>
            <select id="pull-tag" value={tag} onChange={(e) => setSelected(e.currentTarget.value)}>
              {detail.tags.map((t) => (
                <option key={t.tag} value={t.tag}>
                  {t.tag}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        <div class="command">
          <code data-testid="pull-command">{command}</code>
          <CopyButton text={command} what="the pull command" />
        </div>
      </div>

      <h2>Tags</h2>
      <p class="visually-hidden" role="status" aria-live="polite">
        {notice}
      </p>
      <ErrorNote error={error} />
      {detail.tags.length === 0 ? (
        <p class="muted">No tags.</p>
      ) : (
        <TableRegion label="Tags">
          <table class="data" data-testid="tag-table">
            <thead>
              <tr>
                <th scope="col">Tag</th>
                <th scope="col">Digest</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Platforms</th>
                <th scope="col">Pushed</th>
                {showPusher ? <th scope="col">By</th> : null}
                {showPulled ? <th scope="col">Last pulled</th> : null}
                {detail.canDelete ? (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {detail.tags.map((t) => (
                <tr key={t.tag}>
                  <th scope="row">
                    <a href={links.manifest(name, t.digest)} aria-label={`Tag ${t.tag}`}>
                      {t.tag}
                    </a>
                  </th>
                  <td>
                    <code title={t.digest}>{shortDigest(t.digest)}</code>
                  </td>
                  <td class="num">{bytes(t.imageSize)}</td>
                  <td>{t.platforms.length > 0 ? t.platforms.map(platform).join(', ') : '—'}</td>
                  <td>
                    <time dateTime={t.updatedAt} title={dateTime(t.updatedAt)}>
                      {ago(t.updatedAt)}
                    </time>
                  </td>
                  {showPusher ? <td>{t.pushedBy ?? '—'}</td> : null}
                  {showPulled ? <td>{ago(t.lastPulledAt)}</td> : null}
                  {detail.canDelete ? (
                    <td>
                      <button type="button" class="danger small" onClick={() => setDeleting(t)} aria-label={`Delete tag ${t.tag}`}>
                        Delete
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      <RepositoryAutomation name={name} session={session} />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete tag ${deleting?.tag ?? ''}?`}
        confirmLabel="Delete tag"
        onClose={() => setDeleting(null)}
        onConfirm={async () => {
          const t = deleting!;
          await api(`${repoPath(name)}/tags/${encodeURIComponent(t.tag)}`, { method: 'DELETE' });
          setNotice(`Tag ${t.tag} deleted`);
          load();
        }}
      >
        <p>
          The tag <strong>{deleting?.tag}</strong> of <strong>{name}</strong> is removed. The image ({deleting ? shortDigest(deleting.digest) : ''}) stays while other tags or
          digests refer to it.
        </p>
      </ConfirmDialog>
    </section>
  );
}
