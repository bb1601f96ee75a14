/** Maps with at most `limit` calls in flight (link files are tiny: latency, not bandwidth, bounds a walk). */
export async function mapConcurrently<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, limit = 32): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
