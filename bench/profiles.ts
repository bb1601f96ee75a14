/** The sizes and durations of a bench run: `quick` (CI, under two minutes) and `full` (under fifteen). */

export type ProfileName = 'quick' | 'full';

export interface Profile {
  name: ProfileName;
  /** Machine limits: bytes hashed, written (with fsync) and read back, sent over loopback TCP. */
  limitBytes: number;
  /** The big blob pushed and pulled. */
  bigBlobBytes: number;
  /** PATCH size of the chunked push. */
  chunkBytes: number;
  /** Parallel streams of the parallel pull (each stream pulls the whole blob). */
  pullStreams: number;
  /** Connection counts of the manifest HEAD/GET load. */
  manifestLevels: number[];
  /** Measured time per level and method, after a warm-up. */
  manifestDurationMs: number;
  manifestWarmupMs: number;
  /** Pull storm: clients, each pulling one image of `stormLayers` layers of `stormLayerBytes`. */
  stormClients: number;
  stormLayers: number;
  stormLayerBytes: number;
  /** Layers one client downloads at once (docker's max-concurrent-downloads default). */
  stormLayerConcurrency: number;
  /** Small images pushed per run, and how many at once. */
  smallImages: number;
  smallConcurrency: number;
  smallLayerBytes: number;
  /** Tags in the tag-list repository, repositories in the catalog, and the page size used to list them. */
  tagCount: number;
  catalogRepositories: number;
  /** Repositories the listings set-up pushes at least (the rest of the catalog comes from earlier workloads). */
  catalogMinPopulate: number;
  pageSize: number;
  /** Concurrent PUTs while populating tags and repositories. */
  populateConcurrency: number;
  /** Pier only, full run only: tags in one repository, listed with `bigTagPageSize`; 0 skips it. */
  bigTagCount: number;
  bigTagPageSize: number;
  /** How long tags are PUT through the API before the rest is written to storage (see workloads/big-tags.ts). */
  bigTagPutSeconds: number;
  /** Pause after `sync` between two measured runs. */
  restMs: number;
  /** Measure the load generator's request-rate ceiling again at the end of the run (the best counts). */
  ceilingTwice: boolean;
}

const MiB = 1024 * 1024;

export const PROFILES: Record<ProfileName, Profile> = {
  quick: {
    name: 'quick',
    limitBytes: 64 * MiB,
    bigBlobBytes: 64 * MiB,
    chunkBytes: 16 * MiB,
    pullStreams: 8,
    manifestLevels: [1, 64, 256],
    manifestDurationMs: 300,
    manifestWarmupMs: 100,
    stormClients: 50,
    stormLayers: 5,
    stormLayerBytes: MiB / 2,
    stormLayerConcurrency: 3,
    smallImages: 200,
    smallConcurrency: 8,
    smallLayerBytes: 4096,
    tagCount: 2_000,
    catalogRepositories: 1_000,
    catalogMinPopulate: 200,
    pageSize: 100,
    populateConcurrency: 32,
    bigTagCount: 0,
    bigTagPageSize: 1000,
    bigTagPutSeconds: 5,
    restMs: 200,
    ceilingTwice: false,
  },
  full: {
    name: 'full',
    limitBytes: 256 * MiB,
    bigBlobBytes: 1024 * MiB,
    chunkBytes: 16 * MiB,
    pullStreams: 8,
    manifestLevels: [1, 16, 64, 256],
    manifestDurationMs: 1500,
    manifestWarmupMs: 300,
    stormClients: 50,
    stormLayers: 5,
    stormLayerBytes: 20 * 1000 * 1000,
    stormLayerConcurrency: 3,
    smallImages: 1_000,
    smallConcurrency: 8,
    smallLayerBytes: 4096,
    tagCount: 10_000,
    catalogRepositories: 5_000,
    catalogMinPopulate: 1_000,
    pageSize: 100,
    populateConcurrency: 32,
    bigTagCount: 500_000,
    bigTagPageSize: 1000,
    bigTagPutSeconds: 10,
    restMs: 500,
    ceilingTwice: true,
  },
};
