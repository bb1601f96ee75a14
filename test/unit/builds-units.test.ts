/** The parts of automated builds that are pure functions or a store on an in-memory database. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDockerfile, DockerfileError } from '../../src/builds/dockerfile/parse-dockerfile.ts';
import { expandVariables } from '../../src/builds/dockerfile/expand-variables.ts';
import { isIgnored, parseDockerignore } from '../../src/builds/dockerfile/dockerignore.ts';
import { checkRule, matchRule } from '../../src/builds/model/build-rules.ts';
import { parseDefinition, DefinitionError } from '../../src/builds/model/definition.ts';
import { parsePushEvent, WebhookError } from '../../src/builds/triggers/source-webhooks.ts';
import { targetsOf } from '../../src/builds/triggers/trigger-body.ts';
import { parseImageRef } from '../../src/builds/images/resolve-image.ts';
import { BuiltinBuilder } from '../../src/builds/builtin/builtin-builder.ts';
import { SqliteBuildStore } from '../../src/builds/queue/sqlite-build-store.ts';
import { chainIds } from '../../src/builds/links/layer-chain.ts';
import { BuildQueue } from '../../src/builds/queue/build-queue.ts';
import { createLogger } from '../../src/observability/logger.ts';

describe('Dockerfile parsing', () => {
  it('joins continuations, skips comments, reads flags, JSON form and stages', () => {
    const parsed = parseDockerfile('# escape=\\\nARG BASE=scratch\nFROM ${BASE} AS build\n# a comment\nCOPY --chown=1:2 \\\n  a b /dst/\nFROM scratch\nCOPY --from=build /dst /x\nCMD ["a", "b"]\nENTRYPOINT run me\n');
    assert.equal(parsed.globalArgs.length, 1);
    assert.equal(parsed.stages.length, 2);
    assert.equal(parsed.stages[0]!.name, 'build');
    const copy = parsed.stages[0]!.instructions[0]!;
    assert.deepEqual(copy.flags, { chown: '1:2' });
    assert.equal(copy.args, 'a b /dst/');
    assert.equal(copy.line, 5);
    assert.deepEqual(parsed.stages[1]!.instructions[1]!.json, ['a', 'b']);
    assert.equal(parsed.stages[1]!.instructions[2]!.json, undefined);
  });

  it('refuses unknown instructions, instructions before FROM and here-documents, naming the line', () => {
    assert.throws(() => parseDockerfile('FROM scratch\nFROB x\n'), (e: Error) => e instanceof DockerfileError && /line 2: unknown instruction FROB/.test(e.message));
    assert.throws(() => parseDockerfile('COPY a b\n'), /before the first FROM/);
    assert.throws(() => parseDockerfile('FROM scratch\nRUN <<EOF\necho\nEOF\n'), /here-document/);
    assert.throws(() => parseDockerfile('# only a comment\n'), /no FROM/);
  });

  it('the built-in builder names RUN and ADD of URLs as unsupported, and the builder that runs them', () => {
    const builder = new BuiltinBuilder({} as never, () => []);
    assert.match(builder.unsupported(parseDockerfile('FROM scratch\nCOPY a /a\nRUN make\n'))!, /^RUN \(Dockerfile line 3\) is not supported by the built-in builder.*buildah builder runs it/);
    assert.match(builder.unsupported(parseDockerfile('FROM scratch\nADD https://example.com/x /x\n'))!, /ADD from a URL.*buildah/);
    assert.match(builder.unsupported(parseDockerfile('FROM scratch\nCOPY --exclude=*.md . /x\n'))!, /COPY --exclude \(Dockerfile line 2\) is not supported by the built-in builder/);
    // A RUN in a stage the target does not need is no obstacle.
    assert.equal(builder.unsupported(parseDockerfile('FROM scratch AS tools\nRUN make\nFROM scratch\nCOPY a /a\n')), undefined);
  });

  it('expands variables like Docker', () => {
    const vars = new Map([['A', 'x'], ['EMPTY', '']]);
    assert.equal(expandVariables('$A-${A}-${B:-dflt}-${A:+alt}-${EMPTY:-e}-\\$A', vars), 'x-x-dflt-alt-e-$A');
  });
});

describe('.dockerignore', () => {
  it('matches like Docker: segments, **, exceptions, parents', () => {
    const rules = parseDockerignore('# comment\n*.log\n**/node_modules\nsecret\n!secret/keep.txt\n/build/\n');
    assert.equal(isIgnored(rules, 'a.log'), true);
    assert.equal(isIgnored(rules, 'sub/a.log'), false); // * stays in one segment
    assert.equal(isIgnored(rules, 'x/y/node_modules/m.js'), true);
    assert.equal(isIgnored(rules, 'secret/key'), true);
    assert.equal(isIgnored(rules, 'secret/keep.txt'), false);
    assert.equal(isIgnored(rules, 'build/out'), true);
    assert.equal(isIgnored(rules, 'src/build'), false);
  });
});

describe('build rules and triggers', () => {
  const rules = [
    checkRule({ sourceType: 'Branch', sourceName: 'main', dockerTag: 'latest' }, 0),
    checkRule({ sourceType: 'Tag', sourceName: '/^v([0-9]+)\\.([0-9]+)$/', dockerTag: '{\\1}.{\\2}-{sourceref}' }, 1),
    checkRule({ sourceType: 'Branch', sourceName: '/^feature/(.*)$/', dockerTag: 'dev-{\\1}', autobuild: false }, 2),
  ];

  it('matches names and regexes and fills capture groups', () => {
    assert.equal(matchRule(rules[0]!, 'Branch', 'main'), 'latest');
    assert.equal(matchRule(rules[0]!, 'Tag', 'main'), undefined);
    assert.equal(matchRule(rules[1]!, 'Tag', 'v1.2'), '1.2-v1.2');
    assert.equal(matchRule(rules[2]!, 'Branch', 'feature/login'), 'dev-login');
    assert.equal(matchRule(rules[2]!, 'Branch', 'main'), undefined);
  });

  it("turns Hub's trigger bodies into builds", () => {
    assert.deepEqual(targetsOf(rules, { source_type: 'Tag', source_name: 'v3.4' }), [{ sourceType: 'Tag', sourceName: 'v3.4', tag: '3.4-v3.4' }]);
    assert.deepEqual(targetsOf(rules, { docker_tag: 'latest' }), [{ sourceType: 'Branch', sourceName: 'main', tag: 'latest' }]);
    assert.deepEqual(targetsOf(rules, {}), [{ sourceType: 'Branch', sourceName: 'main', tag: 'latest' }]);
    assert.throws(() => targetsOf(rules, { source_type: 'Commit', source_name: 'x' }), /source_type/);
  });

  it('refuses bad definitions with a message naming the field', () => {
    const base = { id: 'app', repository: 'team/app', source: { url: 'https://git.example.com/a.git' } };
    assert.equal(parseDefinition(base, 'api').rules[0]!.dockerTag, 'latest');
    const bad: Array<[unknown, RegExp]> = [
      [{ ...base, id: 'App' }, /^id:/],
      [{ ...base, repository: 'Team/App' }, /^repository:/],
      [{ ...base, source: { url: 'https://user:pw@git.example.com/a.git' } }, /credentials in source.token/],
      [{ ...base, source: { url: 'file:///etc' } }, /source.url/],
      [{ ...base, dockerfile: '../../etc/passwd' }, /^dockerfile: must stay inside/],
      [{ ...base, rules: [{ sourceType: 'Tag', sourceName: '/([/' }] }, /invalid regular expression/],
      [{ ...base, platforms: ['linux'] }, /^platforms:/],
      [{ ...base, extra: 1 }, /unknown field "extra"/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseDefinition(input, 'api'), (e: Error) => e instanceof DefinitionError && message.test(e.message), JSON.stringify(input));
  });
});

describe('source webhooks', () => {
  const body = Buffer.from(JSON.stringify({ ref: 'refs/tags/v1.0', after: 'a'.repeat(40) }));
  const hmac = (secret: string) => createHmac('sha256', secret).update(body).digest('hex');

  it('verifies GitHub, Gitea and GitLab signatures and reads the ref', () => {
    assert.deepEqual(parsePushEvent({ 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac('s3cret-s3cret')}` }, body, 's3cret-s3cret'), { kind: 'push', provider: 'github', sourceType: 'Tag', name: 'v1.0', commit: 'a'.repeat(40) });
    assert.equal((parsePushEvent({ 'x-gitea-event': 'push', 'x-gitea-signature': hmac('s3cret-s3cret') }, body, 's3cret-s3cret') as { provider: string }).provider, 'gitea');
    assert.equal((parsePushEvent({ 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-token': 's3cret-s3cret' }, body, 's3cret-s3cret') as { provider: string }).provider, 'gitlab');
    for (const headers of [{ 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${hmac('other')}` }, { 'x-gitea-event': 'push' }, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': 'x' }, {}]) {
      assert.throws(() => parsePushEvent(headers, body, 's3cret-s3cret'), WebhookError);
    }
    assert.equal(parsePushEvent({ 'x-github-event': 'ping', 'x-hub-signature-256': `sha256=${hmac('s3cret-s3cret')}` }, body, 's3cret-s3cret').kind, 'ignored');
  });
});

describe('FROM references', () => {
  it('names repositories in this registry, and refuses other registries', () => {
    assert.deepEqual(parseImageRef('team/base:1', []), { repository: 'team/base', reference: '1', tag: '1' });
    assert.deepEqual(parseImageRef('registry.example.com/team/base', ['registry.example.com']), { repository: 'team/base', reference: 'latest', tag: 'latest' });
    assert.equal(parseImageRef(`base@sha256:${'0'.repeat(64)}`, []).reference, `sha256:${'0'.repeat(64)}`);
    assert.throws(() => parseImageRef('docker.io/library/alpine:3', ['registry.example.com']), /other registries/);
  });

  it('chain ids of layer prefixes differ from each other and depend on order', () => {
    const [a, ab] = chainIds(['sha256:a', 'sha256:b']);
    assert.notEqual(a, ab);
    assert.notEqual(chainIds(['sha256:b', 'sha256:a'])[1], ab);
  });
});

describe('the SQLite build store', () => {
  it('deduplicates identical queued builds, limits concurrency, orders a cascade, requeues expired leases, cancels', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pier-build-store-'));
    const store = SqliteBuildStore.open(join(dir, 'index.db'));
    try {
      const now = new Date(1_000_000);
      const request = { definitionId: 'd', repository: 'r', sourceType: 'Branch' as const, sourceName: 'main', tags: ['latest'], cause: { kind: 'api' as const } };
      const first = await store.enqueue(request, now);
      const again = await store.enqueue(request, now);
      assert.equal(again.deduplicated, true);
      assert.equal(again.build.id, first.build.id);
      const second = await store.enqueue({ ...request, definitionId: 'c2', cascade: { id: 'k', seq: 1 } }, new Date(1_000_001));
      const firstOfCascade = await store.enqueue({ ...request, definitionId: 'c1', cascade: { id: 'k', seq: 0 } }, new Date(1_000_002));
      const claimed = await store.claim('p1', 2, 10_000, now);
      assert.equal(claimed!.id, first.build.id);
      // The cascade's seq 1 waits for seq 0, queued later.
      const next = await store.claim('p1', 2, 10_000, now);
      assert.equal(next!.id, firstOfCascade.build.id);
      assert.equal(await store.claim('p1', 2, 10_000, now), undefined); // limit reached
      const requeued = await store.requeueExpired(new Date(1_000_000 + 20_000)); // both leases ran out
      assert.deepEqual(requeued.sort(), [first.build.id, firstOfCascade.build.id].sort());
      assert.equal((await store.getBuild(first.build.id))!.attempts, 1);
      const cancelled = await store.cancel(second.build.id, now);
      assert.equal(cancelled!.status, 'cancelled');
      assert.equal((await store.getBuild(first.build.id))!.status, 'queued');
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the build queue', () => {
  it('runs at most `concurrency` builds, fails one that outlives its timeout, and records each outcome', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pier-build-queue-'));
    const store = SqliteBuildStore.open(join(dir, 'index.db'));
    let running = 0;
    let most = 0;
    const events: string[] = [];
    const queue = new BuildQueue(
      store,
      async (build, _work, log, signal) => {
        running++;
        most = Math.max(most, running);
        try {
          log.line(`working on ${build.tags[0]}`);
          const ms = build.tags[0] === 'slow' ? 60_000 : 150;
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, ms);
            signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)));
          });
          return { builder: 'test', commit: 'c'.repeat(40), image: { digest: `sha256:${'1'.repeat(64)}`, mediaType: 'x', bases: [] } };
        } finally {
          running--;
        }
      },
      { emit: async (e) => void events.push(`${e.type}:${'tags' in e ? e.tags[0] : ''}`) },
      createLogger('silent'),
      { concurrency: 2, timeoutMs: 1000, leaseMs: 5000, pollMs: 50, workRoot: dir },
    );
    try {
      queue.start();
      const ids = [];
      for (const tag of ['a', 'b', 'c', 'slow']) ids.push((await queue.enqueue({ definitionId: 'd', repository: 'r', sourceType: 'Branch', sourceName: tag, tags: [tag], cause: { kind: 'api' } })).build.id);
      const deadline = Date.now() + 15_000;
      while ((await store.listBuilds({ limit: 10 })).some((b) => b.status === 'queued' || b.status === 'running')) {
        if (Date.now() > deadline) throw new Error('queue did not drain');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(most, 2);
      const slow = (await store.getBuild(ids[3]!))!;
      assert.equal(slow.status, 'failed');
      assert.match(slow.error!, /timed out after 1 s/);
      for (const id of ids.slice(0, 3)) assert.equal((await store.getBuild(id))!.status, 'succeeded');
      assert.deepEqual(events.sort(), ['build.failed:slow', 'build.succeeded:a', 'build.succeeded:b', 'build.succeeded:c']);
      assert.match((await store.readLog(ids[0]!, 0, 100)).map((l) => l.text).join('\n'), /working on a[\s\S]*succeeded/);
    } finally {
      await queue.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
