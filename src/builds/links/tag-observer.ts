/**
 * A MetadataIndex decorator that reports every tag a manifest put moves, after the index has recorded
 * it, together with the build (if any) that made the push. The listener runs in the background: a push
 * never waits for it, and its failures are only logged.
 */
import type { MetadataIndex } from '../../registry/ports.ts';
import type { Logger } from '../../observability/logger.ts';
import { buildContext } from './base-links.ts';

export type TagListener = (repository: string, tag: string, pushedBy: { buildId: string; cascadeId?: string } | undefined) => Promise<void>;

export function observeTagPushes(index: MetadataIndex, listener: () => TagListener | undefined, logger: Logger): MetadataIndex {
  return new Proxy(index, {
    get(target, property, receiver) {
      if (property !== 'putManifest') {
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (...args: Parameters<MetadataIndex['putManifest']>) => {
        const result = await target.putManifest(...args);
        const write = args[0];
        const current = listener();
        if (result.kind === 'stored' && write.tag !== undefined && current) {
          const pushedBy = buildContext.getStore();
          // After the use case has also written the tag link (it runs right after this returns).
          setImmediate(() => void current(write.repository, write.tag!, pushedBy).catch((error: Error) => logger.error({ err: error.message, repository: write.repository, tag: write.tag }, 'repository links: cannot look at a pushed tag')));
        }
        return result;
      };
    },
  });
}
