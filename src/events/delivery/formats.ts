/**
 * The three payload formats of a delivery:
 * - `reference`: the reference registry's envelope `{"events":[…]}` as `application/vnd.docker.distribution.events.v1+json`
 *   (or `…v2+json`, as 3.x sends), the event exactly as stored;
 * - `hub`: Docker Hub's webhook payload (`callback_url`, `push_data`, `repository`), for image pushes;
 * - `cloudevents`: a CloudEvents 1.0 structured event (`application/cloudevents+json`), type `dev.pier.<type>`.
 */
import type { StoredEvent } from '../event-log.ts';
import { isRegistryEvent, type CustomEvent, type RegistryEvent } from '../event-model.ts';
import type { Endpoint } from './endpoints.ts';

export const REFERENCE_MEDIA_TYPES = {
  v1: 'application/vnd.docker.distribution.events.v1+json',
  v2: 'application/vnd.docker.distribution.events.v2+json',
} as const;
export const CLOUDEVENTS_MEDIA_TYPE = 'application/cloudevents+json';

export interface RenderedPayload {
  contentType: string;
  body: Buffer;
}

export function renderPayload(endpoint: Endpoint, event: StoredEvent, callbackUrl: string | undefined): RenderedPayload {
  switch (endpoint.format) {
    case 'reference':
      // Indented like the reference's encoder, so byte-for-byte consumers see the familiar layout.
      return { contentType: REFERENCE_MEDIA_TYPES[endpoint.envelope], body: Buffer.from(JSON.stringify({ events: [event.payload] }, null, 3)) };
    case 'hub':
      return { contentType: 'application/json', body: Buffer.from(JSON.stringify(hubPayload(event, callbackUrl))) };
    case 'cloudevents':
      return { contentType: CLOUDEVENTS_MEDIA_TYPE, body: Buffer.from(JSON.stringify(cloudEvent(event))) };
  }
}

/** Docker Hub's webhook payload for an image push. */
export function hubPayload(event: StoredEvent, callbackUrl: string | undefined): Record<string, unknown> {
  const payload = event.payload as RegistryEvent;
  const repository = payload.target.repository;
  const slash = repository.lastIndexOf('/');
  const namespace = slash === -1 ? 'library' : repository.slice(0, slash);
  const name = slash === -1 ? repository : repository.slice(slash + 1);
  const base = payload.request.host ? `${hostScheme(payload)}://${payload.request.host}` : '';
  return {
    callback_url: callbackUrl ?? null,
    push_data: {
      pushed_at: Math.floor(event.occurredAt.getTime() / 1000),
      pusher: payload.actor.name ?? '',
      tag: payload.target.tag ?? payload.target.digest ?? '',
      digest: payload.target.digest ?? null,
      media_type: payload.target.mediaType ?? null,
    },
    repository: {
      name,
      namespace,
      owner: namespace,
      repo_name: repository,
      repo_url: base ? `${base}/v2/${repository}/` : '',
      status: 'Active',
      is_private: true,
      is_official: false,
      is_trusted: false,
      description: '',
      full_description: '',
      comment_count: 0,
      star_count: 0,
      date_created: null,
      dockerfile: '',
    },
  };
}

function hostScheme(payload: RegistryEvent): string {
  return payload.target.url?.startsWith('https:') ? 'https' : 'http';
}

/** A CloudEvents 1.0 structured-mode event. */
export function cloudEvent(event: StoredEvent): Record<string, unknown> {
  const payload = event.payload as RegistryEvent | CustomEvent;
  const subject = isRegistryEvent(payload)
    ? payload.target.tag !== undefined
      ? `${payload.target.repository}:${payload.target.tag}`
      : payload.target.digest !== undefined
        ? `${payload.target.repository}@${payload.target.digest}`
        : payload.target.repository
    : payload.repository;
  return {
    specversion: '1.0',
    id: event.id,
    source: `/pier/${payload.source.instanceID}`,
    type: `dev.pier.${event.type}`,
    time: event.occurredAt.toISOString(),
    ...(subject !== undefined ? { subject } : {}),
    datacontenttype: 'application/json',
    data: isRegistryEvent(payload) ? { action: payload.action, target: payload.target, request: payload.request, actor: payload.actor, source: payload.source } : payload.data,
  };
}
