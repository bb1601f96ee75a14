/** Which metadata index to open, as plain values (from the `index` config section; main/open-index.ts opens it). */
import type { PostgresSettings } from './postgres/postgres-connection.ts';

export type { PostgresSettings };

export type IndexSettings =
  /** `path`: the SQLite file; `<data>/pier/index.db` when absent. */
  | { backend: 'sqlite'; path?: string }
  | { backend: 'postgres'; postgres: PostgresSettings };
