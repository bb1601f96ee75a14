/**
 * The build endpoints that callers reach without an account, each carrying its own secret:
 * - `POST /api/build/v1/source/{definition-id}/trigger/{token}/call/`: Docker Hub's trigger URL form,
 *   with Hub's bodies (see builds/triggers/trigger-body.ts); 202 `{"state":"Success","builds":[…]}`;
 * - `POST /pier/hooks/builds/{definition-id}`: push events from GitHub, GitLab or Gitea, verified with the
 *   definition's webhook secret (builds/triggers/source-webhooks.ts).
 * Errors use the spec's JSON error body. Bodies are capped at 25 MiB (GitHub's own limit for webhook payloads).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildJson, Builds, BuildsError } from '../../builds/builds.ts';
import { WebhookError } from '../../builds/triggers/source-webhooks.ts';
import { isDefinitionId } from '../../builds/model/definition.ts';
import { readBody } from '../params.ts';
import { RegistryError } from '../../registry/errors.ts';

const MAX_BODY = 25 * 1024 * 1024; // GitHub caps webhook payloads at 25 MB
const TRIGGER = /^\/api\/build\/v1\/source\/([^/]+)\/trigger\/([^/]+)\/call\/?$/;
const HOOK = /^\/pier\/hooks\/builds\/([^/]+)\/?$/;

export type BuildHooks = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<string | undefined>;

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

const error = (code: string, message: string) => ({ errors: [{ code, message, detail: null }] });

export function createBuildHooks(builds: Builds): BuildHooks {
  return async (req, res, path) => {
    const trigger = TRIGGER.exec(path);
    const hook = trigger ? undefined : HOOK.exec(path);
    if (!trigger && !hook) return undefined;
    const routeId = trigger ? 'build-trigger' : 'build-webhook';
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      send(res, 405, error('UNSUPPORTED', `method ${req.method} is not supported on this endpoint`));
      return routeId;
    }
    const id = (trigger ?? hook)![1]!;
    try {
      const body = await readBody(req, MAX_BODY, () => new RegistryError('SIZE_INVALID', `request body larger than ${MAX_BODY} bytes`));
      if (!isDefinitionId(id)) throw new BuildsError(trigger ? 401 : 404, trigger ? 'invalid trigger token' : 'no such build definition');
      if (trigger) {
        let parsed: unknown = {};
        if (body.length > 0) {
          try {
            parsed = JSON.parse(body.toString('utf8'));
          } catch {
            throw new BuildsError(400, 'the body is not valid JSON');
          }
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new BuildsError(400, 'the body must be a JSON object');
        const started = await builds.trigger(id, trigger[2]!, parsed as Record<string, unknown>);
        send(res, 202, { state: 'Success', builds: started.map(buildJson) });
      } else {
        const result = await builds.webhook(id, req.headers, body);
        send(res, result.builds.length > 0 ? 202 : 200, { builds: result.builds.map(buildJson), ...(result.ignored ? { ignored: result.ignored } : {}) });
      }
    } catch (caught) {
      if (caught instanceof BuildsError || caught instanceof WebhookError) {
        const status = caught.status;
        send(res, status, error(status === 401 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : status === 409 ? 'CONFLICT' : 'INVALID_REQUEST', caught.message));
      } else if (RegistryError.is(caught)) {
        send(res, 413, error(caught.code, caught.message));
      } else {
        throw caught;
      }
    }
    return routeId;
  };
}
