/**
 * What builds announce: a build finished (`build.succeeded`, `build.failed`) and a base image changed
 * under an image pushed from elsewhere (`base.updated`). The default implementation logs; the
 * composition root may hand in one that writes to the events outbox, so webhooks receive them.
 */
import type { Logger } from '../observability/logger.ts';

export type BuildEvent =
  | { type: 'build.succeeded' | 'build.failed'; buildId: string; definitionId: string; repository: string; tags: string[]; commit?: string; digest?: string; error?: string; durationMs: number }
  | { type: 'base.updated'; repository: string; tag: string; platform: string; digest: string; base: { repository: string; tag: string; previousDigest: string; digest: string } };

export interface BuildEvents {
  emit(event: BuildEvent): Promise<void>;
}

export class LoggingBuildEvents implements BuildEvents {
  constructor(private readonly logger: Logger) {}

  async emit(event: BuildEvent): Promise<void> {
    this.logger.info({ event }, event.type);
  }
}
