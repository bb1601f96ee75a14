/** Removes upload sessions older than a maximum age (the reference registry's maintenance.uploadpurging). */
import type { RegistryStorage } from '../ports.ts';

export interface PurgeReport {
  purged: Array<{ repository: string; id: string; startedAt: string }>;
}

export async function purgeUploads(storage: RegistryStorage, maxAgeMs: number, dryRun: boolean, now = new Date()): Promise<PurgeReport> {
  const cutoff = now.getTime() - maxAgeMs;
  const report: PurgeReport = { purged: [] };
  for await (const repository of storage.listRepositories()) {
    for (const upload of await storage.listUploads(repository)) {
      if (upload.startedAt.getTime() >= cutoff) continue;
      if (!dryRun) await storage.deleteUpload(repository, upload.id);
      report.purged.push({ repository, id: upload.id, startedAt: upload.startedAt.toISOString() });
    }
  }
  return report;
}
