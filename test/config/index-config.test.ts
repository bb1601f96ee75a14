/** The `index` section (Pier-only): backends, PostgreSQL connection settings from file and environment. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { indexSettings, settingsFromConfig } from '../../src/config/serve-settings.ts';
import { describePostgres } from '../../src/index/postgres/postgres-connection.ts';

const load = (text: string, env: NodeJS.ProcessEnv = {}) => loadConfig({ text, env });
const BASE = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /data\n';

describe('index configuration', () => {
  it('defaults to SQLite in the data directory', () => {
    const { config, problems } = load(BASE);
    assert.deepEqual(problems, []);
    assert.deepEqual(settingsFromConfig(config!).index, { backend: 'sqlite' });
    assert.deepEqual(indexSettings(load(`${BASE}index:\n  sqlite:\n    path: /fast/index.db\n`).config!), { backend: 'sqlite', path: '/fast/index.db' });
  });

  it('takes PostgreSQL settings from the file and REGISTRY_INDEX_* variables; the password never appears in what is logged', () => {
    const { config, problems } = load(`${BASE}index:\n  backend: postgres\n  postgres:\n    host: db.internal\n    database: pier\n    user: pier\n`, {
      REGISTRY_INDEX_POSTGRES_PASSWORD: 's3cret-value',
      REGISTRY_INDEX_POSTGRES_POOLSIZE: '25',
      REGISTRY_INDEX_POSTGRES_CONNECTTIMEOUT: '3s',
    });
    assert.deepEqual(problems, []);
    const settings = indexSettings(config!);
    assert.equal(settings.backend, 'postgres');
    if (settings.backend !== 'postgres') return;
    assert.deepEqual(settings.postgres, { host: 'db.internal', database: 'pier', user: 'pier', password: 's3cret-value', sslMode: 'disable', poolSize: 25, connectTimeoutMs: 3000 });
    const described = JSON.stringify(describePostgres(settings.postgres));
    assert.ok(!described.includes('s3cret-value'), described);
    assert.ok(!JSON.stringify(describePostgres({ url: 'postgres://pier:url-secret@db:5432/pier', poolSize: 1, connectTimeoutMs: 1 })).includes('url-secret'));
  });

  it('reports conflicting or invalid keys', () => {
    const both = load(`${BASE}index:\n  backend: postgres\n  postgres:\n    password: a\n    passwordfile: /run/secrets/pw\n`);
    assert.match(JSON.stringify(both.problems), /password or passwordfile, not both/);
    const bad = load(`${BASE}index:\n  backend: mysql\n`);
    assert.match(JSON.stringify(bad.problems), /index\.backend/);
    const pool = load(`${BASE}index:\n  postgres:\n    poolsize: 0\n`);
    assert.match(JSON.stringify(pool.problems), /index\.postgres\.poolsize/);
  });
});
