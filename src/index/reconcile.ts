/**
 * Reconciliation: brings the index up to date with storage that another writer changed while Pier was not
 * looking — typically the reference registry, run on the same data directory during a migration or a
 * rollback. Cheap when nothing changed: each repository's storage fingerprint (stats and listings only, see
 * RegistryStorage.repositoryFingerprint) is compared with the one the index recorded when it last read that
 * repository, and only repositories whose fingerprint differs are read again. Repositories the index knows
 * but storage no longer has are forgotten. Every repository checked is recorded with the time of its check
 * (storageCheckedAt), and a whole pass as '*': the start-up gate (storage-gate.ts) lets requests through
 * once their repository was checked since the server started, so this runs after the server listens.
 *
 * Safe while Pier serves (the pass runs beside requests; `pier gc` or a second `pier serve` may run too): a
 * running Pier writes the index before storage, so storage may contradict only index rows older than both
 * its own newest change in the repository (the fingerprint's `changedAt`), the moment the check began, and
 * the last few seconds (a push of another process may be between its index write and its storage write right
 * now); other rows are left alone. Anything left stale that way is corrected at the next check, and the GC
 * grace period covers it. A repository Pier itself wrote to since the last check also shows as changed and
 * is read again: the cost of a check is the fingerprints plus the repositories written since the last one.
 */
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import type { Logger } from '../observability/logger.ts';
import { mapConcurrently } from '../registry/map-concurrently.ts';
import { emptyReport, readRepository, type RebuildReport } from './rebuild.ts';

/** Longer than any gap between a push's index write and its storage write. */
const IN_FLIGHT_MS = 5_000;

/** The storageCheckedAt key of a whole pass (no repository can be named so). */
export const WHOLE_PASS = '*';

export interface ReconcileReport {
  repositories: number;
  /** Repositories read again because their fingerprint changed (or was never recorded). */
  changed: string[];
  /** Repositories the index knew that storage no longer holds. */
  forgotten: string[];
  /** Repositories left out because they were checked since `skipCheckedSince` (by a request, another process). */
  skipped: number;
  read: RebuildReport;
  durationMs: number;
}

export interface ReconcileOptions {
  /** Leave out repositories already checked at or after this time (ms since the epoch). */
  skipCheckedSince?: number;
}

export type RepositoryCheck = 'unchanged' | 'changed' | 'forgotten' | 'absent';

/**
 * Checks one repository: re-reads it when its fingerprint differs from `recorded`, forgets it when storage no
 * longer has it, and records the check (except for a name neither storage nor the index holds).
 */
export async function reconcileRepository(
  storage: RegistryStorage,
  index: MetadataIndex,
  repository: string,
  recorded: string | undefined,
  read: RebuildReport = emptyReport(),
): Promise<RepositoryCheck> {
  const checkedAt = Date.now();
  const { fingerprint, changedAt } = await storage.repositoryFingerprint(repository);
  let outcome: RepositoryCheck;
  if (recorded === fingerprint) {
    outcome = 'unchanged';
  } else if (changedAt.getTime() === 0) {
    // Nothing of it in storage (no tag, revision or layer directory).
    if (!(await index.repositoryExists(repository))) return 'absent';
    await forgetRepository(index, repository, checkedAt - IN_FLIGHT_MS);
    outcome = 'forgotten';
  } else {
    const content = await readRepository(storage, repository, read);
    const replaceOlderThan = new Date(Math.min(changedAt.getTime() + 1, checkedAt - IN_FLIGHT_MS));
    await index.importRepository(repository, content, { replaceOlderThan, fingerprint });
    outcome = 'changed';
  }
  await index.recordStorageChecks([repository], checkedAt);
  return outcome;
}

/** A whole pass: every repository in storage or in the index; records '*' when done. */
export async function reconcileIndex(storage: RegistryStorage, index: MetadataIndex, logger?: Logger, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const started = Date.now();
  const recorded = await index.storageFingerprints();
  const repositories: string[] = [];
  for await (const repository of storage.listRepositories()) repositories.push(repository);
  const report: ReconcileReport = { repositories: repositories.length, changed: [], forgotten: [], skipped: 0, read: emptyReport(), durationMs: 0 };
  const checkedRecently = async (repository: string): Promise<boolean> => {
    if (options.skipCheckedSince === undefined) return false;
    const at = await index.storageCheckedAt(repository);
    return at !== undefined && at >= options.skipCheckedSince;
  };

  await mapConcurrently(
    repositories,
    async (repository) => {
      if (await checkedRecently(repository)) {
        report.skipped += 1;
        return;
      }
      const outcome = await reconcileRepository(storage, index, repository, recorded.get(repository), report.read);
      if (outcome === 'changed') report.changed.push(repository);
      if (outcome === 'forgotten') report.forgotten.push(repository);
    },
    8,
  );

  const present = new Set(repositories);
  for (const repository of await allIndexedRepositories(index)) {
    if (present.has(repository) || (await checkedRecently(repository))) continue;
    // Gone from storage when it was listed; rows written since (a push of a first manifest) are kept.
    await forgetRepository(index, repository, Math.min(started, Date.now() - IN_FLIGHT_MS));
    report.forgotten.push(repository);
  }
  await index.recordStorageChecks([WHOLE_PASS], started);
  report.durationMs = Date.now() - started;
  if (report.changed.length > 0 || report.forgotten.length > 0) {
    logger?.info({ repositories: report.repositories, changed: report.changed.length, forgotten: report.forgotten.length, skipped: report.skipped, durationMs: report.durationMs }, 'index reconciled with storage');
  }
  return report;
}

/** Drops what the index holds of a repository storage no longer has, but rows written at or after `olderThan`. */
function forgetRepository(index: MetadataIndex, repository: string, olderThan: number): Promise<void> {
  return index.importRepository(repository, { blobs: [], manifests: [], tags: [] }, { replaceOlderThan: new Date(olderThan) });
}

async function allIndexedRepositories(index: MetadataIndex): Promise<string[]> {
  const all: string[] = [];
  for (let page = await index.listRepositories(undefined, 10_000); page.length > 0; page = await index.listRepositories(page[page.length - 1], 10_000)) all.push(...page);
  return all;
}
