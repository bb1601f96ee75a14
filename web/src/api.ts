// The admin JSON API (/pier/api/v1/), as the UI uses it: same-origin, cookie session, CSRF header on changes.

export const API = '/pier/api/v1/';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export async function api<T>(path: string, options: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(API + path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => null)) as { errors?: Array<{ code: string; message: string }> } | null;
  if (!res.ok) {
    const first = body?.errors?.[0];
    throw new ApiError(res.status, first?.code ?? 'ERROR', first?.message ?? res.statusText);
  }
  return body as T;
}

/** Headers a raw (non-JSON) change needs: the CSRF token of the browser session. */
export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
}

export const enc = encodeURIComponent;

/** The path of a repository's resources: names keep their slashes. */
export const repoPath = (name: string): string => `repositories/${name.split('/').map(enc).join('/')}`;

export interface Session {
  user: string | null;
  signedIn: boolean;
  admin: boolean;
  viaApiToken: { id: string; name: string } | null;
  csrfToken: string | null;
  authentication: 'required' | 'none';
  registryHost: string;
  deleteEnabled: boolean;
  readOnly: boolean;
  features: string[];
}

export interface RepositoryRow {
  name: string;
  tagCount: number;
  sizeBytes: number;
  lastPushAt: string | null;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface TagRow {
  tag: string;
  digest: string;
  mediaType: string;
  manifestSize: number;
  imageSize: number;
  platforms: Platform[];
  created: string | null;
  updatedAt: string;
  pushedAt: string;
  pushedBy: string | null;
  lastPulledAt: string | null;
}

export interface RepositoryDetail {
  name: string;
  tagCount: number;
  sizeBytes: number;
  lastPushAt: string | null;
  canPush: boolean;
  canDelete: boolean;
  tags: TagRow[];
}

export interface Descriptor {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string | null;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ManifestDetail {
  name: string;
  digest: string;
  mediaType: string;
  size: number;
  pushedAt: string;
  pushedBy: string | null;
  lastPulledAt: string | null;
  tags: string[];
  kind: 'image' | 'index' | 'unknown';
  artifactType: string | null;
  subject: string | null;
  annotations: Record<string, string>;
  config: null | {
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
  };
  layers: Array<Descriptor & { stored: boolean }>;
  totalLayerBytes: number;
  manifests: Descriptor[];
  referrers: Descriptor[];
  canDelete: boolean;
}
