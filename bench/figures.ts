/**
 * Every figure the bench reports, as data: what it measures, its unit, which way is better, and what
 * bounds it (a machine limit or the load generator's ceiling). The bench fills `samples`; the report and
 * the test read this list, so a figure that was not produced shows up as missing instead of vanishing.
 */
import type { Profile } from './profiles.ts';

export type Better = 'higher' | 'lower';

/** The machine limit that bounds a throughput: push → min(disk write, SHA-256); pull → min(loopback TCP, file read). */
export type LimitKind = 'push' | 'pull';

export interface FigureDef {
  id: string;
  /** The workload whose runs produce it (resource figures are per workload). */
  workload: string;
  label: string;
  unit: string;
  better: Better;
  limit?: LimitKind;
  /** Id of the load generator's ceiling for the same kind of request. */
  ceiling?: string;
  /** Measured on Pier alone (the reference cannot do it). */
  pierOnly?: boolean;
  /** Measured once per registry (setup or end of run) instead of in every A B B A run. */
  single?: boolean;
}

export const WORKLOADS = ['startup', 'push', 'pull', 'manifests', 'storm', 'small', 'listings', 'bigtags'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

export function figureCatalog(profile: Profile): FigureDef[] {
  const figures: FigureDef[] = [
    { id: 'startup.first200', workload: 'startup', label: 'start to first 200 on /v2/ (empty data dir)', unit: 'ms', better: 'lower' },
    { id: 'memory.idle', workload: 'startup', label: 'RSS idle after start', unit: 'MiB', better: 'lower' },
    { id: 'memory.idleEnd', workload: 'startup', label: 'RSS idle after all workloads', unit: 'MiB', better: 'lower', single: true },

    { id: 'push.monolithic', workload: 'push', label: `push ${size(profile.bigBlobBytes)} blob, POST + one PUT`, unit: 'MB/s', better: 'higher', limit: 'push', ceiling: 'ceiling.upload' },
    { id: 'push.chunked', workload: 'push', label: `push ${size(profile.bigBlobBytes)} blob, ${size(profile.chunkBytes)} PATCHes`, unit: 'MB/s', better: 'higher', limit: 'push', ceiling: 'ceiling.upload' },

    { id: 'pull.single', workload: 'pull', label: `pull ${size(profile.bigBlobBytes)} blob, 1 stream`, unit: 'MB/s', better: 'higher', limit: 'pull', ceiling: 'ceiling.download1' },
    { id: 'pull.parallel', workload: 'pull', label: `pull ${size(profile.bigBlobBytes)} blob, ${profile.pullStreams} ranged streams`, unit: 'MB/s', better: 'higher', limit: 'pull', ceiling: 'ceiling.downloadN' },
  ];
  for (const method of ['head', 'get'] as const) {
    for (const c of profile.manifestLevels) {
      const base = `manifest.${method}.c${c}`;
      const what = `manifest ${method.toUpperCase()} by tag, ${c} conn`;
      figures.push(
        { id: `${base}.rps`, workload: 'manifests', label: `${what}: throughput`, unit: 'req/s', better: 'higher', ceiling: `ceiling.${base}` },
        { id: `${base}.p50`, workload: 'manifests', label: `${what}: p50`, unit: 'ms', better: 'lower' },
        { id: `${base}.p99`, workload: 'manifests', label: `${what}: p99`, unit: 'ms', better: 'lower' },
      );
    }
  }
  const image = `${profile.stormLayers}x${size(profile.stormLayerBytes)}`;
  figures.push(
    { id: 'storm.wall', workload: 'storm', label: `pull storm: ${profile.stormClients} clients x ${image} image, wall time`, unit: 's', better: 'lower' },
    { id: 'storm.throughput', workload: 'storm', label: `pull storm: aggregate`, unit: 'MB/s', better: 'higher', limit: 'pull', ceiling: 'ceiling.downloadN' },
    { id: 'small.rate', workload: 'small', label: `${profile.smallImages} small images, ${profile.smallConcurrency} at a time`, unit: 'images/s', better: 'higher' },

    { id: 'listings.tagPutRate', workload: 'listings', label: `populate ${profile.tagCount} tags (PUT manifest by tag, ${profile.populateConcurrency} at once)`, unit: 'tags/s', better: 'higher', single: true },
    { id: 'listings.repoPushRate', workload: 'listings', label: `populate repositories up to ${profile.catalogRepositories} (mount 1 blob + PUT manifest)`, unit: 'repos/s', better: 'higher', single: true },
    { id: 'listings.tagsPaged', workload: 'listings', label: `list ${profile.tagCount} tags, n=${profile.pageSize} following Link`, unit: 'ms', better: 'lower' },
    { id: 'listings.tagsOne', workload: 'listings', label: `list ${profile.tagCount} tags in one request`, unit: 'ms', better: 'lower' },
    { id: 'listings.catalogPaged', workload: 'listings', label: `catalog of ${profile.catalogRepositories}+ repositories, n=${profile.pageSize} following Link`, unit: 'ms', better: 'lower' },
  );
  if (profile.bigTagCount > 0) {
    figures.push(
      { id: 'bigtags.putRate', workload: 'bigtags', label: `PUT manifest by tag into one repository (first ${profile.bigTagPutSeconds} s; data on tmpfs if it has room)`, unit: 'tags/s', better: 'higher', pierOnly: true, single: true },
      { id: 'bigtags.reindex', workload: 'bigtags', label: `pier reindex of ${profile.bigTagCount} tags`, unit: 's', better: 'lower', pierOnly: true, single: true },
      { id: 'bigtags.startup', workload: 'bigtags', label: `start to first 200 with ${profile.bigTagCount} tags indexed`, unit: 'ms', better: 'lower', pierOnly: true, single: true },
      { id: 'bigtags.paged', workload: 'bigtags', label: `list ${profile.bigTagCount} tags, n=${profile.bigTagPageSize} following Link`, unit: 'ms', better: 'lower', pierOnly: true },
    );
  }
  for (const workload of ['push', 'pull', 'manifests', 'storm', 'small', 'listings', 'bigtags'] as const) {
    if (workload === 'bigtags' && profile.bigTagCount === 0) continue;
    const pierOnly = workload === 'bigtags' ? { pierOnly: true } : {};
    figures.push(
      { id: `resources.${workload}.rssPeak`, workload, label: `RSS peak during ${workload}`, unit: 'MiB', better: 'lower', ...pierOnly },
      { id: `resources.${workload}.cpu`, workload, label: `server CPU time per ${workload} run`, unit: 'cpu s', better: 'lower', ...pierOnly },
    );
  }
  // Each workload's figures, then its resource figures, in workload order.
  const order = (f: FigureDef): number => WORKLOADS.indexOf(f.workload as WorkloadId) * 2 + (f.id.startsWith('resources.') ? 1 : 0);
  return figures.map((f, i) => ({ f, i })).sort((a, b) => order(a.f) - order(b.f) || a.i - b.i).map(({ f }) => f);
}

/** Load generator ceilings measured against the trivial server (ids referenced by `FigureDef.ceiling`). */
export function ceilingIds(profile: Profile): string[] {
  const ids = ['ceiling.upload', 'ceiling.download1', 'ceiling.downloadN'];
  for (const method of ['head', 'get']) for (const c of profile.manifestLevels) ids.push(`ceiling.manifest.${method}.c${c}`);
  return ids;
}

export function size(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e5) / 10} MB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
