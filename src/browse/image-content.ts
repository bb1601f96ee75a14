/**
 * What an image's content says, read from storage: the facts listings keep (platforms, labels) and the
 * full detail the manifest page shows (layers, config, an index's platforms). Manifests and configs are
 * read whole, so their size is bounded; anything malformed yields what could be read, never an error.
 */
import { parseDigest } from '../registry/model/digest.ts';
import { isIndexMediaType } from '../registry/model/media-types.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import type { ImageFacts, Platform } from './browse-index.ts';

/** Larger configs are not parsed (a real one is a few KiB). */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export interface DescriptorView {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageConfigView {
  digest: string;
  mediaType: string;
  size: number;
  os?: string;
  architecture?: string;
  variant?: string;
  created?: string;
  author?: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  labels?: Record<string, string>;
  exposedPorts?: string[];
  user?: string;
  workingDir?: string;
  history?: Array<{ created?: string; createdBy?: string; comment?: string; emptyLayer?: boolean }>;
}

export interface ManifestContent {
  kind: 'image' | 'index' | 'unknown';
  config?: ImageConfigView;
  layers: DescriptorView[];
  /** An index's entries, with their platforms. */
  manifests: DescriptorView[];
  artifactType?: string;
  subject?: DescriptorView;
  annotations?: Record<string, string>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined);
const stringMap = (v: unknown): Record<string, string> | undefined =>
  isObject(v) ? Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string')) : undefined;

async function readJson(storage: RegistryStorage, digest: string, maxBytes: number): Promise<Json | undefined> {
  try {
    const d = parseDigest(digest);
    const size = await storage.blobSize(d);
    if (size === undefined || size > maxBytes) return undefined;
    const bytes = await storage.readBlob(d);
    const value: unknown = bytes ? JSON.parse(bytes.toString('utf8')) : undefined;
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function platformOf(v: unknown): Platform | undefined {
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') return undefined;
  return { os: v.os, architecture: v.architecture, ...(typeof v.variant === 'string' ? { variant: v.variant } : {}) };
}

function descriptor(v: unknown): DescriptorView | undefined {
  if (!isObject(v) || typeof v.digest !== 'string' || typeof v.mediaType !== 'string' || typeof v.size !== 'number') return undefined;
  const platform = platformOf(v.platform);
  const annotations = stringMap(v.annotations);
  return {
    digest: v.digest,
    mediaType: v.mediaType,
    size: v.size,
    ...(typeof v.artifactType === 'string' ? { artifactType: v.artifactType } : {}),
    ...(annotations ? { annotations } : {}),
    ...(platform ? { platform } : {}),
  };
}

const descriptors = (v: unknown): DescriptorView[] => (Array.isArray(v) ? v.map(descriptor).filter((d): d is DescriptorView => d !== undefined) : []);

function configView(ref: DescriptorView, raw: Json | undefined): ImageConfigView {
  const view: ImageConfigView = { digest: ref.digest, mediaType: ref.mediaType, size: ref.size };
  if (!raw) return view;
  const inner = isObject(raw.config) ? raw.config : {};
  const set = <K extends keyof ImageConfigView>(key: K, value: ImageConfigView[K] | undefined): void => {
    if (value !== undefined) view[key] = value;
  };
  set('os', str(raw.os));
  set('architecture', str(raw.architecture));
  set('variant', str(raw.variant));
  set('created', str(raw.created));
  set('author', str(raw.author));
  set('entrypoint', strings(inner.Entrypoint));
  set('cmd', strings(inner.Cmd));
  set('env', strings(inner.Env));
  set('labels', stringMap(inner.Labels));
  set('exposedPorts', isObject(inner.ExposedPorts) ? Object.keys(inner.ExposedPorts) : undefined);
  set('user', str(inner.User) || undefined);
  set('workingDir', str(inner.WorkingDir) || undefined);
  if (Array.isArray(raw.history)) {
    view.history = raw.history.filter(isObject).map((h) => ({
      ...(str(h.created) ? { created: str(h.created)! } : {}),
      ...(str(h.created_by) ? { createdBy: str(h.created_by)! } : {}),
      ...(str(h.comment) ? { comment: str(h.comment)! } : {}),
      ...(h.empty_layer === true ? { emptyLayer: true } : {}),
    }));
  }
  return view;
}

/** Reads a manifest and (for an image) its config; undefined when the manifest's bytes are not in storage. */
export async function readManifestContent(storage: RegistryStorage, digest: string): Promise<ManifestContent | undefined> {
  const manifest = await readJson(storage, digest, MAX_CONFIG_BYTES);
  if (!manifest) return undefined;
  const mediaType = str(manifest.mediaType) ?? '';
  const subject = descriptor(manifest.subject);
  const annotations = stringMap(manifest.annotations);
  const common = {
    ...(str(manifest.artifactType) ? { artifactType: str(manifest.artifactType)! } : {}),
    ...(subject ? { subject } : {}),
    ...(annotations ? { annotations } : {}),
  };
  if (isIndexMediaType(mediaType) || Array.isArray(manifest.manifests)) {
    return { kind: 'index', layers: [], manifests: descriptors(manifest.manifests), ...common };
  }
  const configRef = descriptor(manifest.config);
  if (!configRef) return { kind: 'unknown', layers: descriptors(manifest.layers), manifests: [], ...common };
  const raw = configRef.size <= MAX_CONFIG_BYTES ? await readJson(storage, configRef.digest, MAX_CONFIG_BYTES) : undefined;
  return { kind: 'image', config: configView(configRef, raw), layers: descriptors(manifest.layers), manifests: [], ...common };
}

/** The facts a listing keeps for a manifest (empty when its content cannot be read). */
export async function imageFactsOf(storage: RegistryStorage, digest: string): Promise<ImageFacts> {
  const content = await readManifestContent(storage, digest);
  if (!content) return { platforms: [], labels: {} };
  if (content.kind === 'index') {
    const platforms = content.manifests.map((m) => m.platform).filter((p): p is Platform => p !== undefined && p.os !== 'unknown');
    return { platforms, labels: {} };
  }
  const c = content.config;
  const platform = c?.os && c.architecture ? [{ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) }] : [];
  return { platforms: platform, labels: c?.labels ?? {}, ...(c?.created ? { created: c.created } : {}) };
}
