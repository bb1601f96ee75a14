/**
 * Versioned migrations of the PostgreSQL metadata index, applied at start.
 *
 * Several replicas may start at once against one database: each takes the same transaction-level advisory
 * lock before looking at `schema_migrations`, so exactly one applies what is missing and the others, once it
 * commits, find nothing left to do. PostgreSQL's DDL is transactional, so a migration that fails leaves the
 * schema as it was. A database migrated by a newer Pier (a version this one does not know) is refused
 * rather than guessed at.
 *
 * Adding a migration: append { version: N + 1, sql } below; never edit one that has shipped.
 * Text that is listed or paged (repository names, tags, digests) uses the "C" collation: byte order, as the
 * distribution spec asks for and as the SQLite index sorts, whatever the database's locale.
 */
import type { PoolClient } from 'pg';
import { advisoryKey } from './advisory-keys.ts';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'repositories, blobs, manifests, references, tags, deletion marks, API tokens, job leases',
    sql: `
-- key 'built': set once the index has been built from storage (see main/open-index.ts)
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE repositories (
  id bigserial PRIMARY KEY,
  name text COLLATE "C" NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE repository_blobs (
  repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  digest text COLLATE "C" NOT NULL,
  size bigint NOT NULL,
  -- the last time the blob was uploaded, mounted or re-linked here; the GC grace period counts from here
  created_at timestamptz NOT NULL,
  PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);
-- blobs whose bytes a garbage collection is deleting right now; the collector also holds a session advisory
-- lock for each (postgres-session-locks.ts), so a mark whose holder's session is gone can be recognised
CREATE TABLE blob_deletions (
  digest text COLLATE "C" PRIMARY KEY,
  started_at timestamptz NOT NULL,
  holder text NOT NULL
);
CREATE TABLE manifests (
  repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
  digest text COLLATE "C" NOT NULL,
  media_type text NOT NULL,
  size bigint NOT NULL,
  artifact_type text,
  subject text COLLATE "C",
  annotations text,
  created_at timestamptz NOT NULL,
  -- the last time a client put this manifest (a re-push refreshes it); the GC grace period counts from here
  pushed_at timestamptz NOT NULL,
  PRIMARY KEY (repository_id, digest)
);
CREATE INDEX manifests_by_digest ON manifests (digest);
CREATE INDEX manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;
-- kind: 'blob' (config and layers) or 'manifest' (children of an index)
CREATE TABLE manifest_references (
  repository_id bigint NOT NULL,
  manifest_digest text COLLATE "C" NOT NULL,
  kind text NOT NULL,
  target_digest text COLLATE "C" NOT NULL,
  PRIMARY KEY (repository_id, manifest_digest, kind, target_digest),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX manifest_references_by_target ON manifest_references (target_digest);
CREATE INDEX manifest_references_by_repository_target ON manifest_references (repository_id, target_digest);
CREATE TABLE tags (
  repository_id bigint NOT NULL,
  name text COLLATE "C" NOT NULL,
  digest text COLLATE "C" NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (repository_id, name),
  FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
);
CREATE INDEX tags_by_digest ON tags (repository_id, digest);
-- API tokens (auth/api-tokens/): not derived from storage, so clear() and reindex keep them
CREATE TABLE api_tokens (
  id text PRIMARY KEY,
  owner text NOT NULL,
  name text NOT NULL,
  secret_hash text NOT NULL,
  scope text NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz,
  last_used_at timestamptz,
  UNIQUE (owner, name)
);
-- scheduled jobs (jobs/maintenance.ts): who runs each one now, and when it last started anywhere
CREATE TABLE job_leases (
  job text PRIMARY KEY,
  holder text,
  expires_at timestamptz NOT NULL DEFAULT '-infinity',
  last_started_at timestamptz
);
`,
  },
  {
    version: 2,
    description: 'events: outbox, fan-out cursor, deliveries, webhooks',
    // Times are epoch milliseconds (bigint), as the event log's port deals in Date values with ms precision.
    sql: `
CREATE TABLE event_outbox (
  seq bigserial PRIMARY KEY,      -- outbox inserts are serialised (postgres-outbox.ts), so seq commits in order
  id text NOT NULL,
  type text NOT NULL,
  repository text,
  occurred_at bigint NOT NULL,
  payload text NOT NULL
);
CREATE TABLE event_fanout (id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);
INSERT INTO event_fanout (id, seq) VALUES (1, 0);
CREATE TABLE event_deliveries (
  id text PRIMARY KEY,
  event_seq bigint NOT NULL,
  endpoint text NOT NULL,
  status text NOT NULL,
  waits_for text,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at bigint NOT NULL,
  lease_owner text,
  lease_expires_at bigint,
  response_code integer,
  latency_ms integer,
  last_error text,
  callback text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  delivered_at bigint,
  UNIQUE (event_seq, endpoint)
);
CREATE INDEX event_deliveries_queue ON event_deliveries (status, endpoint, event_seq);
CREATE INDEX event_deliveries_waits ON event_deliveries (waits_for) WHERE waits_for IS NOT NULL;
CREATE TABLE webhooks (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  url text NOT NULL,
  format text NOT NULL,
  repositories text NOT NULL,
  event_types text NOT NULL,
  secret text NOT NULL,
  after text,
  created_at bigint NOT NULL,
  created_by text
);
`,
  },
  {
    version: 3,
    description: 'storage fingerprints, for start-up reconciliation',
    sql: `
-- per repository, RegistryStorage.repositoryFingerprint as it was when the index last read that repository
-- (index/reconcile.ts compares it with storage at start); derived from storage, so clear() empties it
CREATE TABLE storage_fingerprints (
  repository text COLLATE "C" PRIMARY KEY,
  fingerprint text NOT NULL
);
`,
  },
  {
    version: 4,
    description: 'storage checks, for the start-up gate',
    sql: `
-- per repository, when storage was last compared with the index (ms since the epoch); '*' for the last whole
-- pass (index/storage-gate.ts lets a request through once its repository was checked since its server started)
CREATE TABLE storage_checks (
  repository text COLLATE "C" PRIMARY KEY,
  checked_at bigint NOT NULL
);
`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

const MIGRATION_LOCK = advisoryKey('migrations', 'schema');

/** Brings the schema up to SCHEMA_VERSION; returns the versions it applied (empty when up to date). */
export async function migrate(client: PoolClient): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const current = rows[0]?.version ?? 0;
    if (current > SCHEMA_VERSION) {
      throw new Error(`the PostgreSQL index has schema version ${current}, newer than this Pier knows (${SCHEMA_VERSION}): upgrade Pier`);
    }
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, description) VALUES ($1, $2)', [migration.version, migration.description]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
