// Shapes of the webhooks, deliveries and builds resources of the admin API (src/http/admin/webhooks.ts,
// deliveries.ts, builds-api.ts), and which of them concern one repository.

export interface Webhook {
  id: string;
  name: string;
  url: string;
  format: 'reference' | 'hub' | 'cloudevents';
  repositories: string;
  eventTypes: string[];
  after?: string;
  createdAt: string;
  createdBy?: string;
}

export interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  repository?: string;
  endpoint: string;
  status: 'pending' | 'delivered' | 'dead' | 'waiting' | 'cancelled';
  attempts: number;
  responseCode?: number;
  latencyMs?: number;
  lastError?: string;
  callback?: { state: string; description?: string; at: string };
  createdAt: string;
  updatedAt: string;
}

export interface BuildDefinition {
  id: string;
  repository: string;
  source: { url: string } | null;
  dockerfile?: string;
  builder?: string;
  rules?: Array<{ sourceType: string; sourceName: string; dockerTag: string }>;
  readOnly?: boolean;
}

export type BuildStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Build {
  id: string;
  definition: string;
  repository: string;
  status: BuildStatus;
  sourceType: string;
  sourceName: string;
  commit: string | null;
  archive: string | null;
  tags: string[];
  cause: string;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  attempts: number;
  builder: string | null;
  digest: string | null;
  error: string | null;
}

export const TERMINAL: BuildStatus[] = ['succeeded', 'failed', 'cancelled'];

/** A webhook's repository pattern as the server reads it: `*` is any characters but `/`, `**` any characters. */
export function patternMatches(pattern: string, name: string): boolean {
  const source = pattern
    .split('**')
    .map((part) => part.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${source}$`).test(name);
}
