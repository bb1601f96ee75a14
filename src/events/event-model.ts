/**
 * Pier's events. Registry events (push, pull, delete, mount) are stored in the shape of the reference
 * registry's notification event (CNCF Distribution 2.8: id, timestamp, action, target, request, actor,
 * source), so the reference envelope is sent as stored; the Docker Hub and CloudEvents formats are derived
 * from it (delivery/formats/). Other modules' events (`build.succeeded`, …) are CustomEvents.
 */
import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../registry/ports.ts';
import type { RequestFacts } from './request-context.ts';

export type RegistryAction = 'push' | 'pull' | 'delete' | 'mount';

/** The reference registry reports every blob with this media type. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream';

export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  length?: number;
  repository: string;
  url?: string;
  tag?: string;
  /** Mounts: where the blob came from. */
  fromRepository?: string;
  /** Digests the manifest references (notifications.events.includereferences; Pier lists digests only). */
  references?: Array<{ digest: string }>;
}

export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: RegistryAction;
  target: EventTarget;
  request: { id?: string; addr?: string; host?: string; method?: string; useragent?: string };
  actor: { name?: string };
  source: EventSource;
}

export interface EventSource {
  addr: string;
  instanceID: string;
}

/** An event of another module (builds, …): a type, the repository it concerns and free-form data. */
export interface CustomEvent {
  id: string;
  timestamp: string;
  type: string;
  repository?: string;
  actor: { name?: string };
  source: EventSource;
  data: Record<string, unknown>;
}

/** Pier's event types for registry events; CloudEvents types are `dev.pier.` + these. */
export function registryEventType(action: RegistryAction, target: EventTarget): string {
  const isBlob = target.mediaType === BLOB_MEDIA_TYPE || target.url?.includes('/blobs/') === true;
  if (action === 'mount') return 'blob.mounted';
  if (action === 'delete') return target.tag !== undefined && target.digest === undefined ? 'tag.deleted' : isBlob ? 'blob.deleted' : 'image.deleted';
  if (action === 'push') return isBlob ? 'blob.pushed' : 'image.pushed';
  return isBlob ? 'blob.pulled' : 'image.pulled';
}

export const REGISTRY_EVENT_TYPES = [
  'image.pushed',
  'image.pulled',
  'image.deleted',
  'tag.deleted',
  'blob.pushed',
  'blob.pulled',
  'blob.deleted',
  'blob.mounted',
] as const;

export function isRegistryEvent(payload: unknown): payload is RegistryEvent {
  return typeof payload === 'object' && payload !== null && 'action' in payload && 'target' in payload;
}

/** Builds a registry event from what the index write knows and the request being served (if any). */
export function registryEvent(
  action: RegistryAction,
  target: EventTarget,
  request: RequestFacts | undefined,
  source: EventSource,
  now: Date,
  type: string = registryEventType(action, target),
): OutboxEvent {
  const id = randomUUID();
  const payload: RegistryEvent = {
    id,
    timestamp: now.toISOString(),
    action,
    target: withUrl(target, request),
    request: request ? { id: request.id, addr: request.addr, host: request.host, method: request.method, useragent: request.useragent } : {},
    actor: request?.actor !== undefined ? { name: request.actor } : {},
    source,
  };
  return { id, type, repository: target.repository, occurredAt: now, payload };
}

export function customEvent(
  type: string,
  fields: { repository?: string; actor?: string; data?: Record<string, unknown> },
  source: EventSource,
  now: Date,
): OutboxEvent {
  const id = randomUUID();
  const payload: CustomEvent = {
    id,
    timestamp: now.toISOString(),
    type,
    ...(fields.repository !== undefined ? { repository: fields.repository } : {}),
    actor: fields.actor !== undefined ? { name: fields.actor } : {},
    source,
    data: fields.data ?? {},
  };
  return { id, type, ...(fields.repository !== undefined ? { repository: fields.repository } : {}), occurredAt: now, payload };
}

/**
 * The target in the reference's field order (mediaType, size, digest, length, repository, url, tag), with the
 * content's URL by digest built from the request's Host, as the reference does; deletes carry no URL.
 */
function withUrl(target: EventTarget, request: RequestFacts | undefined): EventTarget {
  const kind = target.mediaType === BLOB_MEDIA_TYPE ? 'blobs' : 'manifests';
  const url =
    request && target.digest !== undefined && target.mediaType !== undefined
      ? `${request.scheme}://${request.host}/v2/${target.repository}/${kind}/${target.digest}`
      : target.url;
  return {
    ...(target.mediaType !== undefined ? { mediaType: target.mediaType } : {}),
    ...(target.size !== undefined ? { size: target.size } : {}),
    ...(target.digest !== undefined ? { digest: target.digest } : {}),
    ...(target.size !== undefined ? { length: target.size } : {}),
    repository: target.repository,
    ...(target.fromRepository !== undefined ? { fromRepository: target.fromRepository } : {}),
    ...(url !== undefined ? { url } : {}),
    ...(target.tag !== undefined ? { tag: target.tag } : {}),
    ...(target.references ? { references: target.references } : {}),
  };
}
