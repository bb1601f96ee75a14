/**
 * Keeps `image_facts` filled: facts of tagged manifests are computed from their content in the background
 * (so a search by label finds images pushed a moment ago) and on demand when a listing meets a digest
 * without them. Bounded per round; content that cannot be read yields empty facts, stored like any other.
 */
import type { Logger } from '../observability/logger.ts';
import type { RegistryStorage } from '../registry/ports.ts';
import type { BrowseIndex, ImageFacts } from './browse-index.ts';
import { imageFactsOf } from './image-content.ts';

/** Facts for these digests, computing and storing those not known yet. */
export async function factsFor(browse: BrowseIndex, storage: RegistryStorage, digests: string[]): Promise<Map<string, ImageFacts>> {
  const known = await browse.facts(digests);
  const learned = new Map<string, ImageFacts>();
  for (const digest of new Set(digests)) if (!known.has(digest)) learned.set(digest, await imageFactsOf(storage, digest));
  if (learned.size > 0) await browse.saveFacts(learned);
  for (const [digest, facts] of learned) known.set(digest, facts);
  return known;
}

/** One round: up to `limit` tagged manifests without facts; returns how many were filled. */
export async function fillMissingFacts(browse: BrowseIndex, storage: RegistryStorage, limit: number): Promise<number> {
  const missing = await browse.manifestsWithoutFacts(limit);
  const learned = new Map<string, ImageFacts>();
  for (const { digest } of missing) learned.set(digest, await imageFactsOf(storage, digest));
  if (learned.size > 0) await browse.saveFacts(learned);
  return missing.length;
}

/** Fills facts every `intervalMs` (and at once); `stop()` waits for a round in progress. */
export function startFactFilling(browse: BrowseIndex, storage: RegistryStorage, logger: Logger, intervalMs = 10_000): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const round = (): void => {
    running = running
      .then(async () => {
        // Rounds of 200 until nothing is missing, yielding between them so requests are served.
        while (!stopped && (await fillMissingFacts(browse, storage, 200)) === 200) await new Promise((r) => setImmediate(r));
      })
      .catch((err: unknown) => logger.warn({ err }, 'filling image facts failed'));
  };
  round();
  const timer = setInterval(round, intervalMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
