/**
 * Parses and validates a manifest body against its media type, and extracts what the registry must know
 * about it: the blobs it references, the child manifests of an index, its subject and artifact type.
 * The bytes themselves are never re-serialised: digests are always of the bytes the client sent.
 */
import { RegistryError } from '../errors.ts';
import { parseDigest } from '../model/digest.ts';
import { MediaType, isManifestMediaType, isWellFormedMediaType, type ManifestMediaType } from '../model/media-types.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

export interface ParsedManifest {
  mediaType: ManifestMediaType;
  /** Config and layer blobs that must exist in the repository (foreign layers with URLs excluded). */
  blobs: string[];
  /** Manifests an index points to; they must exist in the repository. */
  children: string[];
  subject?: Descriptor;
  /** For the referrers API: artifactType, or the config media type of an image manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

const invalid = (message: string, detail?: unknown): never => {
  throw new RegistryError('MANIFEST_INVALID', message, detail);
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseDescriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) return invalid(`${where} is not a descriptor object`);
  const { mediaType, digest, size, artifactType, annotations, urls } = value;
  if (typeof mediaType !== 'string' || !isWellFormedMediaType(mediaType)) return invalid(`${where}.mediaType is missing or malformed`);
  if (typeof digest !== 'string') return invalid(`${where}.digest is missing`);
  try {
    parseDigest(digest);
  } catch {
    return invalid(`${where}.digest is not a valid sha256 or sha512 digest`, { digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return invalid(`${where}.size must be a non-negative integer`);
  if (artifactType !== undefined && (typeof artifactType !== 'string' || !isWellFormedMediaType(artifactType))) {
    return invalid(`${where}.artifactType is malformed`);
  }
  if (annotations !== undefined) checkAnnotations(annotations, `${where}.annotations`);
  if (urls !== undefined && (!Array.isArray(urls) || urls.some((u) => typeof u !== 'string'))) return invalid(`${where}.urls must be a list of strings`);
  const descriptor: Descriptor = { mediaType, digest, size };
  if (artifactType !== undefined) descriptor.artifactType = artifactType as string;
  if (annotations !== undefined) descriptor.annotations = annotations as Record<string, string>;
  if (urls !== undefined) descriptor.urls = urls as string[];
  if (value.platform !== undefined) descriptor.platform = value.platform;
  return descriptor;
}

function checkAnnotations(value: unknown, where: string): asserts value is Record<string, string> {
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) invalid(`${where} must map strings to strings`);
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return invalid(`${where} must be a list`);
  return value.map((item, i) => parseDescriptor(item, `${where}[${i}]`));
}

/**
 * @param body the exact bytes received
 * @param contentType the request's Content-Type (parameters ignored); may be empty, then the body's own
 *   `mediaType` decides
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (error) {
    return invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(json)) return invalid('manifest must be a JSON object');
  const declared = contentType?.split(';')[0]?.trim().toLowerCase() || undefined;
  const bodyType = json.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') return invalid('mediaType must be a string');

  let mediaType: string | undefined = declared;
  if (declared === MediaType.dockerSchema1 || declared === MediaType.dockerSchema1Signed || json.schemaVersion === 1) {
    return invalid('Docker schema 1 manifests are not supported; push with schema 2 or OCI');
  }
  if (!declared || declared === 'application/json' || declared === 'application/octet-stream') {
    mediaType = bodyType ?? guessUntypedOciType(json);
  } else if (bodyType !== undefined && bodyType !== declared) {
    return invalid(`Content-Type ${declared} does not match the manifest's mediaType ${bodyType}`);
  }
  if (!mediaType || !isManifestMediaType(mediaType)) {
    return invalid(`unsupported manifest media type ${mediaType ?? '(none)'}`, { supported: [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList] });
  }
  if (json.schemaVersion !== 2) return invalid('schemaVersion must be 2');
  if (json.annotations !== undefined) checkAnnotations(json.annotations, 'annotations');

  switch (mediaType) {
    case MediaType.ociManifest:
    case MediaType.dockerManifest:
      return parseImageManifest(json, mediaType);
    case MediaType.ociIndex:
    case MediaType.dockerManifestList:
      return parseIndex(json, mediaType);
  }
}

/** An OCI manifest may omit mediaType; tell image manifest from index by shape. */
function guessUntypedOciType(json: Record<string, unknown>): string | undefined {
  if ('config' in json || 'layers' in json) return MediaType.ociManifest;
  if ('manifests' in json) return MediaType.ociIndex;
  return undefined;
}

function parseImageManifest(json: Record<string, unknown>, mediaType: ManifestMediaType): ParsedManifest {
  if (json.manifests !== undefined) return invalid('an image manifest must not have "manifests"');
  const config = parseDescriptor(json.config, 'config');
  if (!Array.isArray(json.layers)) return invalid('layers is required and must be a list');
  const layers = descriptorList(json.layers, 'layers');
  if (json.artifactType !== undefined && (typeof json.artifactType !== 'string' || !isWellFormedMediaType(json.artifactType))) {
    return invalid('artifactType is malformed');
  }
  if (mediaType === MediaType.ociManifest && config.mediaType === MediaType.ociEmpty && json.artifactType === undefined) {
    // OCI image spec 1.1: artifactType MUST be set when config is the empty descriptor.
    return invalid('artifactType is required when config.mediaType is application/vnd.oci.empty.v1+json');
  }
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  const blobs = [config, ...layers].filter((d) => !(d.urls && d.urls.length > 0)).map((d) => d.digest);
  const parsed: ParsedManifest = {
    mediaType,
    blobs: [...new Set(blobs)],
    children: [],
    artifactType: (json.artifactType as string | undefined) ?? config.mediaType,
  };
  if (subject) parsed.subject = subject;
  if (json.annotations) parsed.annotations = json.annotations as Record<string, string>;
  return parsed;
}

function parseIndex(json: Record<string, unknown>, mediaType: ManifestMediaType): ParsedManifest {
  if (!Array.isArray(json.manifests)) return invalid('an index must have a "manifests" list');
  if (json.config !== undefined || json.layers !== undefined) return invalid('an index must not have "config" or "layers"');
  const manifests = descriptorList(json.manifests, 'manifests');
  if (json.artifactType !== undefined && (typeof json.artifactType !== 'string' || !isWellFormedMediaType(json.artifactType))) {
    return invalid('artifactType is malformed');
  }
  const subject = json.subject === undefined ? undefined : parseDescriptor(json.subject, 'subject');
  const parsed: ParsedManifest = {
    mediaType,
    blobs: [],
    children: [...new Set(manifests.map((d) => d.digest))],
  };
  if (typeof json.artifactType === 'string') parsed.artifactType = json.artifactType;
  if (subject) parsed.subject = subject;
  if (json.annotations) parsed.annotations = json.annotations as Record<string, string>;
  return parsed;
}
