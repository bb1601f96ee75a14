/**
 * Build definitions: what to build for a repository, from which source, and Hub-style build rules.
 * `parseDefinition` validates input from the admin API and the `builds.definitions` config section
 * into one shape; every field is checked before it is stored or used.
 */
import { isRepositoryName } from '../../registry/model/repository-name.ts';
import { parsePlatform, type OutputFormat } from '../images/image-model.ts';
import { checkRule, DefinitionError, type BuildRule } from './build-rules.ts';

export { DefinitionError };
export type BuilderChoice = 'auto' | 'builtin' | 'buildah';

export interface GitSource {
  url: string;
  /** An HTTPS token (sent as Basic credentials with `username`, default x-access-token); never logged. */
  token?: string;
  username?: string;
  /** A private SSH key (PEM/OpenSSH) for ssh:// and scp-like URLs; never logged. */
  sshKey?: string;
}

export interface BuildDefinition {
  id: string;
  repository: string;
  /** The git source; absent: the definition builds only context archives uploaded over the API. */
  source?: GitSource;
  /** Dockerfile path, relative to the source root. */
  dockerfile: string;
  /** Context folder, relative to the source root. */
  context: string;
  buildArgs: Record<string, string>;
  platforms: string[];
  target?: string;
  builder: BuilderChoice;
  format: OutputFormat;
  rules: BuildRule[];
  /** Shared secret of source webhooks: HMAC key for GitHub and Gitea, the token for GitLab. */
  webhookSecret?: string;
  /** Where it was defined: the admin API / CLI, or the config file (read-only through the API). */
  origin: 'api' | 'config';
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const FIELDS = ['id', 'repository', 'source', 'dockerfile', 'context', 'buildArgs', 'platforms', 'target', 'builder', 'format', 'rules', 'webhookSecret'];

export const isDefinitionId = (text: string): boolean => ID.test(text);

function relativePath(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length > 1024) throw new DefinitionError(`${field}: a relative path`);
  const parts = value.split('/').filter((p) => p !== '' && p !== '.');
  if (value.startsWith('/') || parts.includes('..')) throw new DefinitionError(`${field}: must stay inside the source (no leading / and no ..)`);
  return parts.join('/') || '.';
}

function gitUrl(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) throw new DefinitionError('source.url: a git URL');
  if (/^(https?|ssh|git):\/\/[^\s]+$/.test(value)) {
    if (/^https?:\/\/[^/]*@/.test(value)) throw new DefinitionError('source.url: put credentials in source.token, not in the URL (URLs end up in logs)');
    return value;
  }
  if (/^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/.test(value)) return value; // scp-like git@host:owner/repo.git
  throw new DefinitionError('source.url: expected https://, http://, ssh://, git:// or user@host:path');
}

export function parseDefinition(input: unknown, origin: 'api' | 'config', id?: string): BuildDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new DefinitionError('a definition is a JSON object');
  const body = input as Record<string, unknown>;
  const unknown = Object.keys(body).filter((k) => !FIELDS.includes(k));
  if (unknown.length > 0) throw new DefinitionError(`unknown field ${JSON.stringify(unknown[0]!.slice(0, 50))} (expected ${FIELDS.join(', ')})`);
  const definitionId = id ?? body.id;
  if (typeof definitionId !== 'string' || !ID.test(definitionId)) throw new DefinitionError('id: lower-case letters, digits and -, at most 63 characters');
  if (typeof body.repository !== 'string' || !isRepositoryName(body.repository)) throw new DefinitionError('repository: a valid repository name');
  const source = (body.source ?? undefined) as Record<string, unknown> | undefined;
  if (source !== undefined && (typeof source !== 'object' || source === null || Array.isArray(source))) throw new DefinitionError('source: {url, token?, username?, sshKey?} (leave it out to build only uploaded context archives)');
  for (const key of Object.keys(source ?? {})) if (!['url', 'token', 'username', 'sshKey'].includes(key)) throw new DefinitionError(`source: unknown field ${JSON.stringify(key.slice(0, 50))}`);
  for (const key of ['token', 'username', 'sshKey']) if (source && source[key] !== undefined && (typeof source[key] !== 'string' || (source[key] as string).length > 16384)) throw new DefinitionError(`source.${key}: a string`);
  const buildArgs = body.buildArgs ?? {};
  if (typeof buildArgs !== 'object' || buildArgs === null || Array.isArray(buildArgs) || Object.entries(buildArgs).some(([k, v]) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || typeof v !== 'string')) {
    throw new DefinitionError('buildArgs: a map of NAME: "value" strings');
  }
  const platforms = body.platforms ?? [];
  if (!Array.isArray(platforms) || platforms.some((p) => typeof p !== 'string')) throw new DefinitionError('platforms: a list such as ["linux/amd64", "linux/arm64"]');
  try {
    platforms.forEach((p) => parsePlatform(p as string));
  } catch (error) {
    throw new DefinitionError(`platforms: ${(error as Error).message}`);
  }
  const builder = body.builder ?? 'auto';
  if (builder !== 'auto' && builder !== 'builtin' && builder !== 'buildah') throw new DefinitionError('builder: auto, builtin or buildah');
  const format = body.format ?? 'oci';
  if (format !== 'oci' && format !== 'docker') throw new DefinitionError('format: oci or docker');
  if (body.target !== undefined && (typeof body.target !== 'string' || !/^[A-Za-z][A-Za-z0-9._-]*$/.test(body.target))) throw new DefinitionError('target: a stage name');
  if (body.webhookSecret !== undefined && (typeof body.webhookSecret !== 'string' || body.webhookSecret.length < 8 || body.webhookSecret.length > 256)) throw new DefinitionError('webhookSecret: 8 to 256 characters');
  const rules = body.rules ?? [{ sourceType: 'Branch', sourceName: 'main', dockerTag: 'latest' }];
  if (!Array.isArray(rules) || rules.length === 0 || rules.length > 100) throw new DefinitionError('rules: a list of 1 to 100 build rules');
  return {
    id: definitionId,
    repository: body.repository,
    ...(source
      ? {
          source: {
            url: gitUrl(source.url),
            ...(typeof source.token === 'string' ? { token: source.token } : {}),
            ...(typeof source.username === 'string' ? { username: source.username } : {}),
            ...(typeof source.sshKey === 'string' ? { sshKey: source.sshKey } : {}),
          },
        }
      : {}),
    dockerfile: relativePath(body.dockerfile, 'dockerfile', 'Dockerfile'),
    context: relativePath(body.context, 'context', '.'),
    buildArgs: buildArgs as Record<string, string>,
    platforms: platforms as string[],
    ...(body.target !== undefined ? { target: body.target as string } : {}),
    builder,
    format,
    rules: rules.map((r, n) => checkRule(r, n)),
    ...(body.webhookSecret !== undefined ? { webhookSecret: body.webhookSecret as string } : {}),
    origin,
  };
}

/** The host (and port) a git URL reaches. */
export function sourceHost(url: string): string {
  const scp = /^[A-Za-z0-9._-]+@([A-Za-z0-9.-]+):/.exec(url);
  if (scp) return scp[1]!.toLowerCase();
  return new URL(url).host.toLowerCase();
}

/** Throws unless the source's host is allowed (`allowed` empty: any host). */
export function checkSourceHost(url: string, allowed: readonly string[]): void {
  if (allowed.length === 0) return;
  const host = sourceHost(url);
  if (!allowed.some((a) => a.toLowerCase() === host || a.toLowerCase() === host.replace(/:\d+$/, ''))) {
    throw new DefinitionError(`source.url: host ${host} is not in builds.sourcehosts`);
  }
}

/** The definition as the API shows it: credentials and secrets are never returned, only whether they are set. */
export function definitionJson(d: BuildDefinition): Record<string, unknown> {
  const { source, webhookSecret, ...rest } = d;
  return {
    ...rest,
    source: source ? { url: source.url, ...(source.username ? { username: source.username } : {}), token: source.token ? 'set' : null, sshKey: source.sshKey ? 'set' : null } : null,
    webhookSecret: webhookSecret ? 'set' : null,
  };
}
