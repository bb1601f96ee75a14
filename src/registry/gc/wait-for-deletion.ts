/**
 * Retries an index write that a running garbage collection refused because it is deleting the same
 * bytes. A collector holds such a mark for the milliseconds it takes to delete one blob, and a mark left by
 * a collector that died expires (index side), so the wait is short and bounded.
 */
import { RegistryError } from '../errors.ts';

const POLL_MS = 25;
const MAX_WAIT_MS = 90_000;

export async function retryWhileDeleting<T>(attempt: () => Promise<T | 'deleting'>, digest: string): Promise<T> {
  const deadline = Date.now() + MAX_WAIT_MS;
  for (;;) {
    const result = await attempt();
    if (result !== 'deleting') return result;
    if (Date.now() > deadline) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'the blob is being removed by garbage collection; retry the push', { digest });
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
