// Helpers for consumers that handle a batch of events at once.

/** Groups items by key, keeping the first-seen order of keys and the order within each. */
export function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/**
 * How many keys a consumer batch writes at once. Eight made the status store 2.3× faster
 * than one at a time (≈650 events/s on the bench machine, then CPU-bound); with no limit a
 * backlog's KV requests crowded out the webhooks' own JetStream acks in an all-in-one
 * process (ingress fell from ~2,000 to ~550 webhooks/s, p99 130 ms).
 */
export const WRITE_CONCURRENCY = 8;

/**
 * Runs `work` for every item, at most `limit` at a time, and waits for all of them; then
 * returns the results in order or throws the first failure (no new item starts after one).
 * Unlike Promise.all, nothing is still running when it throws: a consumer that fails a
 * batch must not leave writes going on behind its back. For work on distinct keys, where
 * running side by side cannot make writers race.
 */
export async function settleAll<T, R>(
  items: Iterable<T>,
  work: (item: T) => Promise<R>,
  limit = WRITE_CONCURRENCY,
): Promise<R[]> {
  const all = [...items];
  const results: R[] = new Array<R>(all.length);
  const failures: unknown[] = [];
  let next = 0;
  const runner = async (): Promise<void> => {
    while (next < all.length && failures.length === 0) {
      const index = next++;
      try {
        results[index] = await work(all[index] as T);
      } catch (reason) {
        failures.push(reason);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, all.length) }, runner));
  if (failures.length > 0) throw failures[0];
  return results;
}
