/**
 * Start-up reconciliation: brings the index up to date with storage that another writer changed while
 * Pier was not looking — typically the reference registry, run on the same data directory during a
 * migration or a rollback. Cheap when nothing changed: each repository's storage fingerprint (stats and
 * listings only, see RegistryStorage.repositoryFingerprint) is compared with the one the index recorded
 * when it last read that repository, and only repositories whose fingerprint differs are read again.
 * Repositories the index knows but storage no longer has are forgotten.
 *
 * Safe while Pier serves (e.g. `pier gc` next to `pier serve`, or a second `pier serve`): a running Pier
 * writes the index before storage, so storage may contradict only index rows older than both its own
 * newest change in the repository (the fingerprint's `changedAt`) and the last few seconds (a push of
 * another process may be between its index write and its storage write right now); other rows are left
 * alone. Anything left stale that way is corrected at the next check, and the GC grace period covers it.
 * A repository Pier itself wrote to since the last check also shows as changed and is read again:
 * the cost of a check is the fingerprints plus the repositories written since the last one.
 */
import type { MetadataIndex, RegistryStorage } from '../registry/ports.ts';
import type { Logger } from '../observability/logger.ts';
import { mapConcurrently } from '../registry/map-concurrently.ts';
import { emptyReport, readRepository, type RebuildReport } from './rebuild.ts';

/** Longer than any gap between a push's index write and its storage write. */
const IN_FLIGHT_MS = 5_000;

export interface ReconcileReport {
  repositories: number;
  /** Repositories read again because their fingerprint changed (or was never recorded). */
  changed: string[];
  /** Repositories the index knew that storage no longer holds. */
  forgotten: string[];
  read: RebuildReport;
  durationMs: number;
}

export async function reconcileIndex(storage: RegistryStorage, index: MetadataIndex, logger?: Logger, now: Date = new Date()): Promise<ReconcileReport> {
  const started = Date.now();
  const recorded = await index.storageFingerprints();
  const repositories: string[] = [];
  for await (const repository of storage.listRepositories()) repositories.push(repository);
  const report: ReconcileReport = { repositories: repositories.length, changed: [], forgotten: [], read: emptyReport(), durationMs: 0 };

  const fingerprints = await mapConcurrently(repositories, (repository) => storage.repositoryFingerprint(repository), 8);
  const changed = repositories.flatMap((repository, i) => (recorded.get(repository) === fingerprints[i]!.fingerprint ? [] : [{ repository, ...fingerprints[i]! }]));
  await mapConcurrently(
    changed,
    async ({ repository, fingerprint, changedAt }) => {
      const content = await readRepository(storage, repository, report.read);
      const replaceOlderThan = new Date(Math.min(changedAt.getTime() + 1, now.getTime() - IN_FLIGHT_MS));
      await index.importRepository(repository, content, { replaceOlderThan, fingerprint });
      report.changed.push(repository);
    },
    4,
  );

  const present = new Set(repositories);
  for (const repository of await allIndexedRepositories(index)) {
    if (present.has(repository)) continue;
    // Gone from storage: a running Pier's push of a first manifest reaches storage (its upload) first.
    await index.importRepository(repository, { blobs: [], manifests: [], tags: [] }, { replaceOlderThan: new Date(now.getTime() - IN_FLIGHT_MS) });
    report.forgotten.push(repository);
  }
  report.durationMs = Date.now() - started;
  if (report.changed.length > 0 || report.forgotten.length > 0) {
    logger?.info({ repositories: report.repositories, changed: report.changed.length, forgotten: report.forgotten.length, durationMs: report.durationMs }, 'index reconciled with storage');
  }
  return report;
}

async function allIndexedRepositories(index: MetadataIndex): Promise<string[]> {
  const all: string[] = [];
  for (let page = await index.listRepositories(undefined, 10_000); page.length > 0; page = await index.listRepositories(page[page.length - 1], 10_000)) all.push(...page);
  return all;
}
