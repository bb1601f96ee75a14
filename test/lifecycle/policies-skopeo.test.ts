/** Tag immutability and quotas, with skopeo as the client. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { startPier, type RunningPier } from '../support/pier.ts';
import { requireTools } from '../support/tools.ts';

describe('immutable tags and quotas, pushed with skopeo', { timeout: 240_000 }, () => {
  let env: ClientEnv;
  let image: SmallImage;
  let pier: RunningPier;
  let layoutRef: string;

  const push = (target: string, extra: string[] = []) =>
    env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', ...extra, layoutRef, `docker://${pier.host}/${target}`]);

  before(async () => {
    requireTools('skopeo', 'buildah');
    env = await createClientEnv('pier-policies');
    image = await buildSmallImage(env);
    layoutRef = `oci:${image.layoutDir}:small`;
    pier = await startPier({
      deleteEnabled: true,
      immutableTags: [{ repository: 'imm/**', tag: 'v*' }],
      quotas: [
        { repository: 'quota/tiny', limitBytes: 10_000 },
        { namespace: 'team', limitBytes: 400_000 },
      ],
    });
  });
  after(async () => {
    await pier?.close();
    await env?.close();
  });

  it('an immutable tag is pushed once, then cannot be moved or deleted; other tags stay mutable', async () => {
    await push('imm/app:v1');
    await push('imm/app:v1'); // the same manifest again: not a move, allowed
    await assert.rejects(push('imm/app:v1', ['--format', 'v2s2']), (error: Error) => {
      assert.match(error.message, /immutable/);
      return true;
    });
    const del = await fetch(`${pier.url}/v2/imm/app/manifests/v1`, { method: 'DELETE' });
    assert.equal(del.status, 403);
    const body = (await del.json()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]?.code, 'DENIED');
    assert.match(body.errors[0]!.message, /repository=imm\/\*\* tag=v\*/, 'the message names the rule');
    const byDigest = await fetch(`${pier.url}/v2/imm/app/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(byDigest.status, 403, 'deleting the manifest would delete the immutable tag');
    await push('imm/app:latest');
    await push('imm/app:latest', ['--format', 'v2s2']);
    const tags = (await (await fetch(`${pier.url}/v2/imm/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, ['latest', 'v1']);
  });

  it('a push over a repository quota is denied with usage and limit, and nothing is linked', async () => {
    await assert.rejects(push('quota/tiny:1'), (error: Error) => {
      assert.match(error.message, /quota exceeded for repository quota\/tiny/);
      return true;
    });
    const layer = image.manifest.layers.find((l) => l.size > 10_000)!;
    assert.equal((await fetch(`${pier.url}/v2/quota/tiny/blobs/${layer.digest}`, { method: 'HEAD' })).status, 404);
  });

  it('a namespace quota counts each blob once across its repositories', async () => {
    await push('team/one:1');
    await push('team/two:1'); // the same blobs: no more usage
    await push('team/three/deep:1');
    const big = Buffer.alloc(300_000, 7);
    const { createHash } = await import('node:crypto');
    const digest = `sha256:${createHash('sha256').update(big).digest('hex')}`;
    const res = await fetch(`${pier.url}/v2/team/four/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(big) });
    assert.equal(res.status, 403);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: { usage: number; limit: number } }> };
    assert.equal(body.errors[0]?.code, 'DENIED');
    assert.match(body.errors[0]!.message, /namespace team/);
    assert.equal(body.errors[0]!.detail.limit, 400_000);
    const imageBytes = image.manifest.layers.reduce((n, l) => n + l.size, image.manifest.config.size);
    assert.equal(body.errors[0]!.detail.usage, imageBytes, 'usage counts the shared image once');
  });
});
