/**
 * What every admin API route file shares: the caller, the dependencies, the route shape (endpoints as data,
 * with what the OpenAPI document says about them), the admin API's own errors and writing JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../observability/logger.ts';
import type { AccessControl, Caller } from '../../auth/access-control.ts';
import type { ApiTokenInfo, ApiTokens } from '../../auth/api-tokens/api-tokens.ts';
import type { BrowserSessions } from '../../auth/sessions/browser-sessions.ts';
import type { QuotaRule } from '../../registry/policies/quotas.ts';
import type { ImmutabilityRule } from '../../registry/policies/immutability.ts';
import type { RetentionRule } from '../../registry/gc/apply-retention.ts';
import type { MetadataIndex, RegistryStorage } from '../../registry/ports.ts';
import type { Registry } from '../../registry/registry.ts';
import type { PolicyConfig } from '../../auth/policy.ts';
import type { BrowseIndex } from '../../browse/browse-index.ts';
import type { ActivityRecorder } from '../../browse/activity-recorder.ts';
import type { GcRunLog } from '../../registry/gc/gc-run-log.ts';
import { RegistryError } from '../../registry/errors.ts';
import { readBody } from '../params.ts';

export interface AdminCaller {
  /** undefined: anonymous, or a local call on a registry without authentication. */
  user: string | undefined;
  admin: boolean;
  /** The API token the caller authenticated with (directly, through a registry token or a session). */
  apiToken?: ApiTokenInfo;
  /** For permission checks against the policy. */
  caller?: Caller;
  /** Signed in through a browser session (changes then need the CSRF token). */
  session?: { secret: string };
}

/** The scheduled GC, as configured (shown on the rules page). */
export interface GcSchedule {
  intervalMs: number;
  gracePeriodMs: number;
  deleteUntagged: boolean;
  keepReferrers: boolean;
}

export interface AdminDeps {
  logger: Logger;
  apiTokens: ApiTokens;
  index: MetadataIndex;
  quotas: QuotaRule[];
  access?: AccessControl;
  /** The browsing resources need these three; without them those routes answer 404. */
  registry?: Registry;
  storage?: RegistryStorage;
  browse?: BrowseIndex;
  /** Pending pull times are written before a listing reads them. */
  activity?: ActivityRecorder;
  /** Recorded garbage collection runs. */
  gcRuns?: GcRunLog;
  sessions?: BrowserSessions;
  immutableTags: ImmutabilityRule[];
  retention: RetentionRule[];
  gc?: GcSchedule;
  /** access.policy as configured (shown to admins on the rules page). */
  accessPolicy?: PolicyConfig;
  deleteEnabled: boolean;
  readOnly: boolean;
  /** http.host: the registry's public address, for pull commands (else the request's Host). */
  publicHost?: string;
  /** The route ids this server has, so the UI shows pages only for what exists (webhooks, builds, …). */
  features?: string[];
  /** The route table being served (for the OpenAPI document). */
  routes?: AdminRoute[];
}

export interface AdminRequest {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  params: Record<string, string>;
  caller: AdminCaller;
  deps: AdminDeps;
}

/** Who may call an operation (the admin API checks the first three; routes check the rest themselves). */
export type Audience =
  /** Anyone, signed in or not. */
  | 'anyone'
  /** Anyone the access policy lets pull something (anonymous callers too, where the policy allows). */
  | 'browse'
  /** A signed-in user or API token. */
  | 'user'
  /** A signed-in admin (`access.policy.admins`, or any user without a policy). */
  | 'admin';

export interface QueryParam {
  name: string;
  description: string;
  schema: Record<string, unknown>;
}

export interface AdminOperation {
  summary: string;
  audience: Audience;
  handler: (r: AdminRequest) => Promise<void>;
  query?: QueryParam[];
  /** JSON schema of the request body. */
  body?: Record<string, unknown>;
  /** Status of success and what it returns. */
  success: { status: number; description: string };
}

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface AdminRoute {
  /** A stable label for logs and metrics. */
  id: string;
  /** The path under /pier/api/v1/, with `{param}` placeholders (OpenAPI style). */
  path: string;
  /** Matches the path under /pier/api/v1/ (without a trailing slash); groups are `params` in order. */
  pattern: RegExp;
  params: string[];
  methods: Partial<Record<AdminMethod, AdminOperation>>;
}

export class AdminError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const NO_STORE = { 'Cache-Control': 'no-store' };
const MAX_BODY_BYTES = 16 * 1024;

export function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(value);
  res.writeHead(status, { ...NO_STORE, ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload); // node:http leaves the body out of a HEAD response
}

export function noContent(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(204, { ...NO_STORE, ...headers });
  res.end();
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AdminError(400, 'INVALID_REQUEST', 'expected Content-Type: application/json');
  const raw = await readBody(req, MAX_BODY_BYTES, () => new RegistryError('SIZE_INVALID', `request body larger than ${MAX_BODY_BYTES} bytes`));
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AdminError(400, 'INVALID_REQUEST', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AdminError(400, 'INVALID_REQUEST', 'the body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Whether the caller may take `action` (pull, push, delete) on a repository. */
export function mayAct(r: Pick<AdminRequest, 'caller' | 'deps'>, repository: string, action: 'pull' | 'push' | 'delete'): boolean {
  const { caller, deps } = r;
  if (caller.admin) return true;
  if (!deps.access) return action === 'pull'; // an open registry: anyone pulls; changes only from the local host
  return deps.access.allows(caller.caller ?? { kind: 'anonymous' }, 'repository', repository, action);
}

/** Refuses unless the caller may take `action` on the repository. */
export function requireAction(r: Pick<AdminRequest, 'caller' | 'deps'>, repository: string, action: 'pull' | 'push' | 'delete'): void {
  if (mayAct(r, repository, action)) return;
  // Anonymous callers are asked to sign in; a signed-in caller is refused.
  if (r.caller.user === undefined && !r.caller.admin && r.deps.access) throw new RegistryError('UNAUTHORIZED', 'authentication required');
  throw new RegistryError('DENIED', 'requested access to the resource is denied', [{ Type: 'repository', Class: '', Name: repository, Action: action }]);
}

/** The browsing resources' dependencies, or 404 when this server was built without them. */
export function browsing(deps: AdminDeps): { registry: Registry; storage: RegistryStorage; browse: BrowseIndex } {
  if (!deps.registry || !deps.storage || !deps.browse) throw new AdminError(404, 'NOT_FOUND', 'browsing is not available on this server');
  return { registry: deps.registry, storage: deps.storage, browse: deps.browse };
}

export const iso = (d: Date | undefined): string | null => (d ? d.toISOString() : null);

/** A whole number query parameter within bounds, or the default. */
export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const text = query.get(name);
  if (text === null || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) throw new AdminError(400, 'INVALID_REQUEST', `${name}: a whole number`);
  const value = Number(text);
  if (value < min || value > max) throw new AdminError(400, 'INVALID_REQUEST', `${name}: between ${min} and ${max}`);
  return value;
}
