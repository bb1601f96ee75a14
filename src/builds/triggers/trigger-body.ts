/**
 * Docker Hub's build trigger bodies: `{"source_type":"Branch","source_name":"main"}`,
 * `{"source_type":"Tag","source_name":"v1.2"}`, `{"docker_tag":"latest"}`, or nothing (every autobuild
 * rule). Each becomes the list of (source, docker tag) pairs to build.
 */
import { matchRule, type BuildRule, type SourceType } from '../model/build-rules.ts';

export interface TriggerTarget {
  sourceType: SourceType;
  sourceName: string;
  tag: string;
}

export class TriggerBodyError extends Error {}

const isLiteral = (rule: BuildRule): boolean => !(rule.sourceName.startsWith('/') && rule.sourceName.endsWith('/'));

export function targetsOf(rules: readonly BuildRule[], body: Record<string, unknown>): TriggerTarget[] {
  const { source_type: sourceType, source_name: sourceName, docker_tag: dockerTag } = body;
  if (sourceType !== undefined || sourceName !== undefined) {
    if (sourceType !== 'Branch' && sourceType !== 'Tag') throw new TriggerBodyError('source_type: Branch or Tag');
    if (typeof sourceName !== 'string' || sourceName === '' || sourceName.length > 250) throw new TriggerBodyError('source_name: the branch or tag name');
    return rules.flatMap((rule) => {
      const tag = matchRule(rule, sourceType, sourceName);
      return tag ? [{ sourceType, sourceName, tag }] : [];
    });
  }
  if (dockerTag !== undefined) {
    if (typeof dockerTag !== 'string') throw new TriggerBodyError('docker_tag: a tag');
    return rules.filter((r) => isLiteral(r) && matchRule(r, r.sourceType, r.sourceName) === dockerTag).map((r) => ({ sourceType: r.sourceType, sourceName: r.sourceName, tag: dockerTag }));
  }
  return rules
    .filter((r) => r.autobuild && isLiteral(r))
    .flatMap((r) => {
      const tag = matchRule(r, r.sourceType, r.sourceName);
      return tag ? [{ sourceType: r.sourceType, sourceName: r.sourceName, tag }] : [];
    });
}
