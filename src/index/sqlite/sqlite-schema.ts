/**
 * Schema of the SQLite metadata index. The version is stored in `PRAGMA user_version`; a newer layout gets
 * a new version and a migration here. The index is derived data (rebuildable from storage), so a
 * migration may also simply drop everything and ask for a reindex.
 */
export const SCHEMA_VERSION = 1;

/**
 * API tokens (Pier-only, auth/api-tokens/). Unlike everything else here they are not derived from storage:
 * `pier reindex` (which clears the other tables) keeps them, and deleting index.db loses them. The table is
 * only ever added (CREATE … IF NOT EXISTS), so the token store creates it in an index of the same version
 * made before it existed, and an older Pier still opens the file.
 */
export const API_TOKENS_SCHEMA = `
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY,            -- the public part of the token (16 hex digits)
  owner TEXT NOT NULL,            -- the htpasswd user it acts for
  name TEXT NOT NULL,
  secret_hash TEXT NOT NULL,      -- SHA-256 of the whole token, hex; the token itself is never stored
  scope TEXT NOT NULL,            -- JSON: [{"repositories": [...], "actions": [...]}]
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER,
  UNIQUE (owner, name)
) WITHOUT ROWID;
`;

/**
 * Events (Pier-only, events/): the outbox, its fan-out cursor, deliveries and API-created webhooks. Like
 * api_tokens they are not derived from storage (`pier reindex` keeps them) and are only ever added, so
 * SqliteIndex creates them in any index of the current version.
 */
export const EVENTS_SCHEMA = `
-- seq is the rowid (no AUTOINCREMENT, which costs a write per insert): it never goes back because pruning
-- always keeps the newest row. id is unique by construction (a UUID) and is not indexed.
CREATE TABLE IF NOT EXISTS event_outbox (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  repository TEXT,
  occurred_at INTEGER NOT NULL,
  payload TEXT NOT NULL           -- JSON
);
CREATE TABLE IF NOT EXISTS event_fanout (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL            -- every event with seq <= this has its delivery rows
);
CREATE TABLE IF NOT EXISTS event_deliveries (
  id TEXT PRIMARY KEY,
  event_seq INTEGER NOT NULL,
  endpoint TEXT NOT NULL,         -- config:<name> or webhook:<id>
  status TEXT NOT NULL,           -- pending | delivered | dead | waiting | cancelled
  waits_for TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  response_code INTEGER,
  latency_ms INTEGER,
  last_error TEXT,
  callback TEXT,                  -- JSON: {state, description, context, targetUrl, at}
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  delivered_at INTEGER,
  UNIQUE (event_seq, endpoint)
);
CREATE INDEX IF NOT EXISTS event_deliveries_queue ON event_deliveries (status, endpoint, event_seq);
CREATE INDEX IF NOT EXISTS event_deliveries_waits ON event_deliveries (waits_for) WHERE waits_for IS NOT NULL;
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  format TEXT NOT NULL,
  repositories TEXT NOT NULL,
  event_types TEXT NOT NULL,      -- JSON list
  secret TEXT NOT NULL,
  after TEXT,
  created_at INTEGER NOT NULL,
  created_by TEXT
) WITHOUT ROWID;
`;

/**
 * Tag listing (`tags/list?n=&last=`) is a keyset scan over (repository_id, name). The tags table's own key
 * has those columns but its rows also carry the digest and a time, so this narrower index holds ~6× more
 * names per page and answers the listing alone (a covering index). Created IF NOT EXISTS at every open, so
 * an index file made before it existed gets it without a schema version change.
 */
export const TAG_LISTING_INDEX = 'CREATE INDEX IF NOT EXISTS tags_listing ON tags (repository_id, name);';

/**
 * Tables added after the first layout, created on every open (IF NOT EXISTS), so an index made by an
 * earlier Pier gains them without a version change, and an earlier Pier still opens the file.
 *
 * upload_write_locks: who is writing to an upload session right now (processes sharing the data
 * directory take turns). Each row names its holder (lock-holder.ts) so that a lock dies with its process.
 * It replaces the first layout's `upload_locks` (rows with only a lease), which is left in place for an
 * older Pier still running on the same data directory during an upgrade.
 *
 * storage_fingerprints: per repository, the storage fingerprint (RegistryStorage.repositoryFingerprint)
 * as it was when the index last read that repository; start-up reconciliation compares it with storage.
 *
 * storage_checks: per repository, when storage was last compared with the index (ms since the epoch);
 * '*' for the last whole pass. The start-up gate (index/storage-gate.ts) lets a request through once its
 * repository was checked since the server started.
 */
export const ADDED_TABLES = `
CREATE TABLE IF NOT EXISTS upload_write_locks (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  host TEXT NOT NULL,
  boot TEXT NOT NULL,
  pid INTEGER NOT NULL,
  started TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS storage_fingerprints (
  repository TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS storage_checks (
  repository TEXT PRIMARY KEY,
  checked_at INTEGER NOT NULL
) WITHOUT ROWID;
`;

export const SCHEMA = `
-- key 'built': set once the index has been built from storage (see main/open-registry.ts)
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repositories (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS repository_blobs (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  -- the last time the blob was uploaded, mounted or re-linked here; the GC grace period counts from here
  created_at INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS repository_blobs_by_digest ON repository_blobs (digest);
-- blobs whose bytes a garbage collection is deleting right now: nobody may link them until it is done
CREATE TABLE IF NOT EXISTS blob_deletions (
  digest TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifests (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  artifact_type TEXT,
  subject TEXT,
  annotations TEXT,
  created_at INTEGER NOT NULL,
  -- the last time a client put this manifest (a re-push refreshes it); the GC grace period counts from here
  pushed_at INTEGER NOT NULL,
  PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests (digest);
CREATE INDEX IF NOT EXISTS manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;
-- kind: 'blob' (config and layers) or 'manifest' (children of an index)
CREATE TABLE IF NOT EXISTS manifest_references (
  repository_id INTEGER NOT NULL,
  manifest_digest TEXT NOT NULL,
  kind TEXT NOT NULL,
  target_digest TEXT NOT NULL,
  PRIMARY KEY (repository_id, manifest_digest, kind, target_digest),
  FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS manifest_references_by_target ON manifest_references (target_digest);
CREATE TABLE IF NOT EXISTS tags (
  repository_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  digest TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repository_id, name),
  FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_by_digest ON tags (repository_id, digest);
${TAG_LISTING_INDEX}
${API_TOKENS_SCHEMA}
${ADDED_TABLES}`;
