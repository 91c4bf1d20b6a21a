/**
 * Runs `work` for every item at once and waits for all of them, then returns the results in
 * order or throws the first failure. Unlike Promise.all, nothing is still running when it
 * throws: a consumer that fails a batch must not leave writes going on behind its back.
 * For work on distinct keys, where running side by side cannot make writers race.
 */
export async function settleAll<T, R>(items: Iterable<T>, work: (item: T) => Promise<R>): Promise<R[]> {
  const settled = await Promise.allSettled(Array.from(items, work));
  const results: R[] = [];
  for (const outcome of settled) {
    if (outcome.status === "rejected") throw outcome.reason;
    results.push(outcome.value);
  }
  return results;
}
