/**
 * The on-disk layout of the reference registry (CNCF Distribution 2.x), which Pier reads and writes
 * unchanged so a `registry:2` volume can be served as it is, and the other way round:
 *
 *   docker/registry/v2/
 *   ├── blobs/<alg>/<first two hex>/<hex>/data                 the bytes of every blob and manifest
 *   └── repositories/<name>/
 *       ├── _layers/<alg>/<hex>/link                             "<alg>:<hex>": the blob is in this repository
 *       ├── _manifests/revisions/<alg>/<hex>/link                the manifest is in this repository
 *       ├── _manifests/tags/<tag>/current/link                   the digest the tag points to now
 *       ├── _manifests/tags/<tag>/index/<alg>/<hex>/link         every digest the tag has pointed to
 *       └── _uploads/<uuid>/
 *           ├── data                                             bytes received so far
 *           └── startedat                                        RFC 3339 start time
 *
 * Pier keeps its own files beside that tree, under pier/: the SQLite index (filesystem storage only),
 * quarantine/<alg>/<hex>, where `pier scrub --repair` moves corrupt blobs, and spare/, emptied upload
 * session directories kept for the next session (storage/filesystem/spare-directories.ts).
 *
 * Repository names may contain `/`, so `<name>` spans several directories; a directory is a repository
 * when it holds `_manifests` or `_layers`. Names, tags, digests and upload ids are validated before they
 * reach these functions; the driver's checkPath is the second guard.
 */
import type { Digest } from '../registry/model/digest.ts';

export const ROOT = 'docker/registry/v2';
export const REPOSITORIES = `${ROOT}/repositories`;

export const blobDataPath = (d: Digest): string => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`;
export const blobDirectory = (d: Digest): string => `${ROOT}/blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
export const repositoryPath = (name: string): string => `${REPOSITORIES}/${name}`;
export const layerLinkPath = (name: string, d: Digest): string => `${REPOSITORIES}/${name}/_layers/${d.algorithm}/${d.hex}/link`;
export const layerLinkDirectory = (name: string, d: Digest): string => `${REPOSITORIES}/${name}/_layers/${d.algorithm}/${d.hex}`;
export const layersPath = (name: string, algorithm: string): string => `${REPOSITORIES}/${name}/_layers/${algorithm}`;
export const revisionLinkPath = (name: string, d: Digest): string =>
  `${REPOSITORIES}/${name}/_manifests/revisions/${d.algorithm}/${d.hex}/link`;
export const revisionDirectory = (name: string, d: Digest): string => `${REPOSITORIES}/${name}/_manifests/revisions/${d.algorithm}/${d.hex}`;
export const revisionsPath = (name: string, algorithm: string): string => `${REPOSITORIES}/${name}/_manifests/revisions/${algorithm}`;
export const tagsPath = (name: string): string => `${REPOSITORIES}/${name}/_manifests/tags`;
export const tagPath = (name: string, tag: string): string => `${REPOSITORIES}/${name}/_manifests/tags/${tag}`;
export const tagCurrentLinkPath = (name: string, tag: string): string => `${REPOSITORIES}/${name}/_manifests/tags/${tag}/current/link`;
export const tagIndexLinkPath = (name: string, tag: string, d: Digest): string =>
  `${REPOSITORIES}/${name}/_manifests/tags/${tag}/index/${d.algorithm}/${d.hex}/link`;
export const uploadsPath = (name: string): string => `${REPOSITORIES}/${name}/_uploads`;
export const uploadDataPath = (name: string, id: string): string => `${REPOSITORIES}/${name}/_uploads/${id}/data`;
export const uploadStartedAtPath = (name: string, id: string): string => `${REPOSITORIES}/${name}/_uploads/${id}/startedat`;
export const uploadDirectory = (name: string, id: string): string => `${REPOSITORIES}/${name}/_uploads/${id}`;
export const quarantinePath = (d: Digest): string => `pier/quarantine/${d.algorithm}/${d.hex}`;
