/**
 * The one metadata-index suite against PostgreSQL 15 (a private server for this file), then what only a
 * shared database has to get right: replicas migrating one database at once, upload locks and deletion
 * marks that cross processes and die with their holder's session, pushes racing a collector on another
 * replica, the job lease, and API tokens.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { runIndexSuite } from '../../src/index/testing/index-suite.ts';
import { openPostgresBackend, type PostgresBackend } from '../../src/index/postgres/postgres-backend.ts';
import type { PostgresSettings } from '../../src/index/postgres/postgres-connection.ts';
import { SCHEMA_VERSION } from '../../src/index/postgres/postgres-migrations.ts';
import { MediaType } from '../../src/registry/model/media-types.ts';
import { startPostgres, type RunningPostgres } from '../support/postgres.ts';

let server: RunningPostgres;
const started = startPostgres().then((s) => (server = s));

before(() => started);
after(() => server?.stop());

const d = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

function settings(database: string): PostgresSettings {
  return { host: server.host, port: server.port, user: server.user, password: server.password, database, poolSize: 5, connectTimeoutMs: 5000 };
}

async function freshDatabase(): Promise<{ database: string; open: (options?: { markFloorMs?: number }) => Promise<PostgresBackend> }> {
  await started;
  const database = await server.createDatabase('idx');
  return { database, open: (options = {}) => openPostgresBackend(settings(database), options) };
}

// One database for the suite, emptied after each test (creating a database per test costs a second each).
let suiteDatabase: Promise<string> | undefined;
runIndexSuite('postgres', async () => {
  suiteDatabase ??= started.then(() => server.createDatabase('suite'));
  const database = await suiteDatabase;
  const backend = await openPostgresBackend(settings(database));
  return {
    index: backend.index,
    eventLog: backend.eventLog,
    lockFromKilledProcess: (id, owner) => lockThenDie(settings(database), id, owner),
    cleanup: async () => {
      await backend.pool.query(`TRUNCATE ${ALL_TABLES.join(', ')} RESTART IDENTITY`);
      await backend.pool.query('UPDATE event_fanout SET seq = 0');
      await backend.close();
    },
  };
});

const BACKEND = new URL('../../src/index/postgres/postgres-backend.ts', import.meta.url).href;

/**
 * Another process takes the lock, says so with its session's backend pid, and is killed with SIGKILL
 * before it can release it. PostgreSQL ends a session when it sees its connection close, a moment after
 * the kill: we wait for that (the contract's "once the process is gone"), never for a lease.
 */
async function lockThenDie(connection: PostgresSettings, id: string, owner: string): Promise<void> {
  const script = `const { openPostgresBackend } = await import(${JSON.stringify(BACKEND)});
    const backend = await openPostgresBackend(${JSON.stringify(connection)});
    const ok = await backend.index.lockUpload(${JSON.stringify(id)}, ${JSON.stringify(owner)}, 3600000);
    const pid = await backend.index.lockSessionPid();
    process.stdout.write(ok ? 'locked ' + pid : 'refused'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const said = await new Promise<string>((resolve) => child.stdout.once('data', (data) => resolve(String(data))));
  assert.match(said, /^locked \d+$/);
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
  const pid = said.split(' ')[1]!;
  for (let i = 0; i < 100 && server.psql(`SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`, connection.database!) !== '0'; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ALL_TABLES = ['tags', 'manifest_references', 'manifests', 'repository_blobs', 'repositories', 'blob_deletions', 'storage_fingerprints', 'api_tokens', 'job_leases', 'meta', 'event_outbox', 'event_deliveries', 'webhooks'];

describe('postgres index shared by replicas', () => {
  let database: string;
  let open: (options?: { markFloorMs?: number }) => Promise<PostgresBackend>;
  const opened: PostgresBackend[] = [];
  const replica = async (options?: { markFloorMs?: number }) => {
    const b = await open(options);
    opened.push(b);
    return b;
  };

  before(async () => {
    ({ database, open } = await freshDatabase());
  });
  after(async () => {
    for (const b of opened) await b.close().catch(() => undefined);
    if (database) await server.dropDatabase(database);
  });

  it('several replicas migrating one empty database at once: one applies, all start', async () => {
    const backends = await Promise.all([replica(), replica(), replica(), replica()]);
    const applied = backends.map((b) => b.migrated);
    assert.equal(applied.filter((a) => a.length > 0).length, 1, `exactly one replica migrated: ${JSON.stringify(applied)}`);
    assert.equal(server.psql('SELECT string_agg(version::text, \',\' ORDER BY version) FROM schema_migrations', database), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1).join(','));
    // the first build runs once even when every replica asks at once
    let builds = 0;
    const ran = await Promise.all(backends.map((b) => b.buildIfNew(async () => { builds += 1; await new Promise((r) => setTimeout(r, 100)); })));
    assert.equal(builds, 1);
    assert.deepEqual(ran.filter(Boolean).length, 1);
  });

  it('refuses a database migrated by a newer Pier', async () => {
    const other = await server.createDatabase('newer');
    try {
      server.psql(`CREATE TABLE schema_migrations (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO schema_migrations VALUES (${SCHEMA_VERSION + 1}, 'from the future')`, other);
      await assert.rejects(openPostgresBackend(settings(other)), /newer than this Pier/);
    } finally {
      await server.dropDatabase(other);
    }
  });

  it('an upload lock is exclusive across replicas and dies with its holder\'s session', async () => {
    const [a, b] = [opened[0]!, opened[1]!];
    assert.equal(await a.index.lockUpload('upload-1', 'owner-a', 30_000), true);
    assert.equal(await a.index.lockUpload('upload-1', 'owner-a', 30_000), true, 'renewal by the holder');
    assert.equal(await a.index.lockUpload('upload-1', 'owner-x', 30_000), false, 'another owner in the same process');
    assert.equal(await b.index.lockUpload('upload-1', 'owner-b', 30_000), false, 'another replica');
    await a.index.unlockUpload('upload-1', 'owner-a');
    assert.equal(await b.index.lockUpload('upload-1', 'owner-b', 30_000), true);
    // the holder "crashes": its session is terminated without an unlock
    server.psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND application_name = 'pier-locks' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')`, database);
    let taken = false;
    for (let i = 0; i < 50 && !taken; i++) {
      taken = await a.index.lockUpload('upload-1', 'owner-a', 30_000);
      if (!taken) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(taken, 'the lock of a dead session is free at once, with no expiry to wait for');
  });

  it('a deletion mark holds off other replicas while its holder lives, and expires when its session is gone', async () => {
    const collector = await replica({ markFloorMs: 200 });
    const pusher = await replica({ markFloorMs: 200 });
    const future = new Date(Date.now() + 60_000);
    await pusher.index.addBlob('app', d(1), 1);
    assert.deepEqual(await collector.index.beginBlobDeletions([d(1)], future), new Map([[d(1), ['app']]]));
    assert.deepEqual(await pusher.index.beginBlobDeletions([d(1)], future), new Map(), 'a second collector does not take it');
    await new Promise((r) => setTimeout(r, 400)); // past the floor: only the live session keeps the mark now
    assert.equal(await pusher.index.addBlob('app', d(1), 1), 'deleting');
    await collector.close(); // the collector dies mid-deletion
    assert.equal(await pusher.index.addBlob('app', d(1), 1), 'linked', 'a dead collector\'s mark no longer blocks');
    assert.equal(server.psql('SELECT count(*) FROM blob_deletions', database), '0', 'the stale mark was removed');
  });

  it('manifests pushed on one replica never reference a blob a collector on another replica is deleting', async () => {
    const [pusher, collector] = [opened[0]!, opened[1]!];
    const future = new Date(Date.now() + 60_000); // every link is past its grace period
    const races = 40;
    for (let i = 0; i < races; i++) await pusher.index.addBlob('race', d(1000 + i), 10);
    const outcomes = await Promise.all(
      Array.from({ length: races }, async (_, i) => {
        const blob = d(1000 + i);
        const write = { repository: 'race', digest: d(5000 + i), mediaType: MediaType.ociManifest, size: 50, blobs: [blob], children: [], tag: `t${i}` };
        const [pushed, deleting] = await Promise.all([
          pusher.index.putManifest(write),
          collector.index.beginBlobDeletions([blob], future),
        ]);
        if (deleting.has(blob)) await collector.index.endBlobDeletions([blob]);
        return { pushed: pushed.kind, deleted: deleting.has(blob) };
      }),
    );
    for (const [i, o] of outcomes.entries()) {
      assert.ok(!(o.pushed === 'stored' && o.deleted), `race ${i}: a stored manifest references deleted bytes`);
      assert.ok(o.pushed === 'stored' || o.deleted, `race ${i}: the push failed although nothing was deleted (${o.pushed})`);
    }
    assert.ok(outcomes.some((o) => o.pushed === 'stored'), 'some pushes won');
  });

  it('a layer link a collector removes is never one a manifest pushed at the same moment relies on', async () => {
    const [pusher, collector] = [opened[0]!, opened[1]!];
    const future = new Date(Date.now() + 60_000);
    const races = 40;
    for (let i = 0; i < races; i++) await pusher.index.addBlob('race-links', d(2000 + i), 10);
    const outcomes = await Promise.all(
      Array.from({ length: races }, async (_, i) => {
        const blob = d(2000 + i);
        const write = { repository: 'race-links', digest: d(6000 + i), mediaType: MediaType.ociManifest, size: 50, blobs: [blob], children: [], tag: `t${i}` };
        // the collector starts up to a few milliseconds late, so it lands at every point of the push's transaction
        const late = async () => {
          await new Promise((r) => setTimeout(r, (i % 8) * 2));
          return (await collector.index.removeLayerLinksIfUnused([{ repository: 'race-links', digest: blob }], future)).length > 0;
        };
        const [pushed, removed] = await Promise.all([pusher.index.putManifest(write), late()]);
        return { pushed: pushed.kind, removed, linked: (await pusher.index.repositoryBlobSize('race-links', blob)) !== undefined };
      }),
    );
    for (const [i, o] of outcomes.entries()) {
      assert.ok(!(o.pushed === 'stored' && !o.linked), `race ${i}: a stored manifest references a blob no longer linked in its repository`);
      assert.ok(o.pushed === 'stored' || o.removed, `race ${i}: ${JSON.stringify(o)}`);
    }
  });

  it('tagging a manifest on one replica while a collector on another deletes it as unreachable: the tag is never lost', async () => {
    const [pusher, collector] = [opened[0]!, opened[1]!];
    const future = new Date(Date.now() + 60_000);
    const races = 40;
    const write = (i: number, tag?: string) => ({ repository: 'race-tags', digest: d(7000 + i), mediaType: MediaType.ociManifest, size: 50, blobs: [], children: [], ...(tag ? { tag } : {}) });
    for (let i = 0; i < races; i++) await pusher.index.putManifest(write(i), { trustReferences: true }); // untagged
    const outcomes = await Promise.all(
      Array.from({ length: races }, async (_, i) => {
        const late = async () => {
          await new Promise((r) => setTimeout(r, (i % 8) * 2));
          return (await collector.index.deleteManifestsIfUnreachable([{ repository: 'race-tags', digest: d(7000 + i) }], future, true)).length > 0;
        };
        const [pushed, deleted] = await Promise.all([pusher.index.putManifest(write(i, `t${i}`), { trustReferences: true }), late()]);
        return { pushed: pushed.kind, deleted, tagged: (await pusher.index.resolveTag('race-tags', `t${i}`))?.digest === d(7000 + i) };
      }),
    );
    for (const [i, o] of outcomes.entries()) assert.ok(o.pushed === 'stored' && o.tagged, `race ${i}: an acknowledged tag was lost: ${JSON.stringify(o)}`);
  });

  it('two replicas pushing the first manifest of one immutable tag at once: exactly one wins, the tag never moves', async () => {
    const [a, b] = [opened[0]!, opened[1]!];
    const races = 20;
    for (let i = 0; i < races; i++) {
      const write = (n: number) => ({ repository: 'race-immutable', digest: d(8000 + 2 * i + n), mediaType: MediaType.ociManifest, size: 50, blobs: [], children: [], tag: `v${i}`, tagImmutable: true });
      const [ra, rb] = await Promise.all([a.index.putManifest(write(0), { trustReferences: true }), b.index.putManifest(write(1), { trustReferences: true })]);
      const kinds = [ra.kind, rb.kind].sort();
      assert.deepEqual(kinds, ['immutable', 'stored'], `race ${i}: ${JSON.stringify([ra, rb])}`);
      const winner = ra.kind === 'stored' ? d(8000 + 2 * i) : d(8000 + 2 * i + 1);
      assert.equal((ra.kind === 'immutable' ? ra : rb.kind === 'immutable' ? rb : undefined)?.current, winner);
      assert.equal((await a.index.resolveTag('race-immutable', `v${i}`))?.digest, winner);
      const loser = ra.kind === 'stored' ? d(8000 + 2 * i + 1) : d(8000 + 2 * i);
      assert.equal(await a.index.getManifest('race-immutable', loser), undefined, 'the refused push left no manifest behind');
    }
  });

  it('the job lease: one holder at a time, once per interval across replicas', async () => {
    const [a, b] = [opened[0]!.jobLease, opened[1]!.jobLease];
    await a.register('gc');
    await b.register('gc');
    assert.equal(await a.claim('gc', 0, 10_000), true);
    assert.equal(await b.claim('gc', 0, 10_000), false, 'held by a');
    assert.equal(await a.renew('gc', 10_000), true);
    assert.equal(await b.renew('gc', 10_000), false);
    await a.release('gc');
    assert.equal(await b.claim('gc', 60_000, 10_000), false, 'it ran less than an interval ago');
    assert.equal(await b.claim('gc', 0, 50), true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await a.claim('gc', 0, 10_000), true, 'b\'s claim expired (it stopped renewing)');
  });

  it('API tokens are shared by every replica', async () => {
    const [a, b] = [opened[0]!.tokens, opened[1]!.tokens];
    const token = { id: '0123456789abcdef', user: 'ci', name: 'robot', secretHash: 'ab'.repeat(32), scope: [{ repositories: ['team/**'], actions: ['pull'] }], createdAt: new Date(1_700_000_000_000) };
    assert.equal(await a.insert(token), true);
    assert.equal(await b.insert({ ...token, id: 'fedcba9876543210' }), false, 'one name per user');
    assert.deepEqual(await b.get(token.id), token);
    await b.touch(token.id, new Date(1_700_000_100_000));
    await a.touch(token.id, new Date(1_700_000_050_000));
    assert.equal((await a.get(token.id))?.lastUsedAt?.getTime(), 1_700_000_100_000, 'last use never moves backwards');
    assert.deepEqual((await a.list('ci')).map((t) => t.id), [token.id]);
    assert.equal(await b.remove(token.id), true);
    assert.equal(await a.get(token.id), undefined);
  });
});
