/**
 * Build rules in Docker Hub's form. A rule has a source type (Branch or Tag), a source name that is a
 * literal or a regular expression written between slashes (`/^v([0-9.]+)$/`), a Docker tag that may use
 * the regex's capture groups (`{\1}`) or `{sourceref}` (the branch or tag name), and switches for
 * autobuild and for rebuilding when the base image changes.
 */
import { isTag } from '../../registry/model/tag.ts';

export type SourceType = 'Branch' | 'Tag';

export interface BuildRule {
  sourceType: SourceType;
  sourceName: string;
  dockerTag: string;
  autobuild: boolean;
  rebuildOnBaseChange: boolean;
}

export class DefinitionError extends Error {}

const MAX_PATTERN = 256;

export function checkRule(input: unknown, n: number): BuildRule {
  if (typeof input !== 'object' || input === null) throw new DefinitionError(`rules[${n}]: an object`);
  const r = input as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!['sourceType', 'sourceName', 'dockerTag', 'autobuild', 'rebuildOnBaseChange'].includes(key)) throw new DefinitionError(`rules[${n}]: unknown field ${JSON.stringify(key.slice(0, 50))}`);
  if (r.sourceType !== 'Branch' && r.sourceType !== 'Tag') throw new DefinitionError(`rules[${n}].sourceType: Branch or Tag`);
  if (typeof r.sourceName !== 'string' || r.sourceName === '' || r.sourceName.length > MAX_PATTERN) throw new DefinitionError(`rules[${n}].sourceName: a name or /regex/`);
  if (isRegex(r.sourceName)) {
    try {
      new RegExp(r.sourceName.slice(1, -1));
    } catch (error) {
      throw new DefinitionError(`rules[${n}].sourceName: invalid regular expression: ${(error as Error).message}`);
    }
  }
  const dockerTag = r.dockerTag ?? 'latest';
  if (typeof dockerTag !== 'string' || dockerTag === '' || dockerTag.length > 128) throw new DefinitionError(`rules[${n}].dockerTag: a tag, may use {\\1} or {sourceref}`);
  if (!/[{]/.test(dockerTag) && !isTag(dockerTag)) throw new DefinitionError(`rules[${n}].dockerTag: ${JSON.stringify(dockerTag)} is not a valid tag`);
  for (const key of ['autobuild', 'rebuildOnBaseChange']) if (r[key] !== undefined && typeof r[key] !== 'boolean') throw new DefinitionError(`rules[${n}].${key}: true or false`);
  return { sourceType: r.sourceType, sourceName: r.sourceName, dockerTag, autobuild: r.autobuild !== false, rebuildOnBaseChange: r.rebuildOnBaseChange !== false };
}

const isRegex = (name: string): boolean => name.length >= 2 && name.startsWith('/') && name.endsWith('/');

/** The Docker tag a rule gives for a branch or tag name, or undefined when the rule does not match it. */
export function matchRule(rule: BuildRule, sourceType: SourceType, name: string): string | undefined {
  if (rule.sourceType !== sourceType) return undefined;
  let groups: string[] = [];
  if (isRegex(rule.sourceName)) {
    const m = new RegExp(rule.sourceName.slice(1, -1)).exec(name);
    if (!m) return undefined;
    groups = m.map((g) => g ?? '');
  } else if (rule.sourceName !== name) {
    return undefined;
  }
  const tag = rule.dockerTag
    .replace(/\{\\(\d)\}/g, (_, d: string) => groups[Number(d)] ?? '')
    .replace(/\{sourceref\}/g, name)
    .replace(/[^A-Za-z0-9._-]/g, '-');
  return isTag(tag) ? tag : undefined;
}

/** Parses a git ref (`refs/heads/main`, `refs/tags/v1.2`) into a source type and name. */
export function parseGitRef(ref: string): { sourceType: SourceType; name: string } | undefined {
  if (ref.startsWith('refs/heads/')) return { sourceType: 'Branch', name: ref.slice('refs/heads/'.length) };
  if (ref.startsWith('refs/tags/')) return { sourceType: 'Tag', name: ref.slice('refs/tags/'.length) };
  return undefined;
}
