/**
 * Push events from source hosts, each verified its own way before anything in it is used:
 * - GitHub: `X-GitHub-Event: push`, `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body>`;
 * - Gitea (and Forgejo): `X-Gitea-Event: push`, `X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>`;
 * - GitLab: `X-Gitlab-Event: Push Hook | Tag Push Hook`, `X-Gitlab-Token: <the secret>`.
 * Comparisons are constant-time. A push that deletes a ref (all-zero `after`) starts nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parseGitRef, type SourceType } from '../model/build-rules.ts';

export type PushEvent = { kind: 'push'; provider: 'github' | 'gitlab' | 'gitea'; sourceType: SourceType; name: string; commit?: string } | { kind: 'ignored'; provider: string; reason: string };

export class WebhookError extends Error {
  constructor(
    readonly status: 400 | 401,
    message: string,
  ) {
    super(message);
  }
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
};

export function parsePushEvent(headers: IncomingHttpHeaders, body: Buffer, secret: string | undefined): PushEvent {
  const github = header(headers, 'x-github-event');
  const gitea = header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event');
  const gitlab = header(headers, 'x-gitlab-event');
  let provider: 'github' | 'gitlab' | 'gitea';
  let event: string;
  if (!secret) throw new WebhookError(401, 'this build definition has no webhookSecret: set one to accept source webhooks');
  if (gitea !== undefined) {
    provider = 'gitea';
    event = gitea;
    const signature = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature') ?? '';
    if (!equal(signature.toLowerCase(), createHmac('sha256', secret).update(body).digest('hex'))) throw new WebhookError(401, 'invalid X-Gitea-Signature');
  } else if (github !== undefined) {
    provider = 'github';
    event = github;
    const signature = header(headers, 'x-hub-signature-256') ?? '';
    if (!equal(signature.toLowerCase(), `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`)) throw new WebhookError(401, 'invalid X-Hub-Signature-256');
  } else if (gitlab !== undefined) {
    provider = 'gitlab';
    event = gitlab;
    if (!equal(header(headers, 'x-gitlab-token') ?? '', secret)) throw new WebhookError(401, 'invalid X-Gitlab-Token');
  } else {
    throw new WebhookError(400, 'not a GitHub, GitLab or Gitea webhook (no X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event header)');
  }
  const isPush = provider === 'gitlab' ? event === 'Push Hook' || event === 'Tag Push Hook' : event === 'push';
  if (!isPush) return { kind: 'ignored', provider, reason: `event ${event.slice(0, 40)} starts no build` };
  let payload: Record<string, unknown>;
  try {
    payload = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new WebhookError(400, 'the push event is not JSON (configure the webhook with content type application/json)');
  }
  const ref = typeof payload.ref === 'string' ? parseGitRef(payload.ref) : undefined;
  if (!ref) return { kind: 'ignored', provider, reason: 'the push is not to a branch or tag' };
  const after = typeof payload.checkout_sha === 'string' ? payload.checkout_sha : payload.after;
  if (typeof after !== 'string' || /^0+$/.test(after)) return { kind: 'ignored', provider, reason: 'the push deleted the ref' };
  return { kind: 'push', provider, sourceType: ref.sourceType, name: ref.name, ...(/^[0-9a-f]{40}$/.test(after) ? { commit: after } : {}) };
}
