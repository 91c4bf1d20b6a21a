/**
 * A gate for a log line an outage would repeat many times a second (a retry loop, a flusher,
 * every webhook): it opens at most once per `intervalMs`, the first time at once, or whenever
 * it is forced (what is said has changed), which starts the interval again.
 */
export function onceEvery(intervalMs: number): (force?: boolean) => boolean {
  let last = Number.NEGATIVE_INFINITY;
  return (force = false) => {
    const now = performance.now();
    if (!force && now - last < intervalMs) return false;
    last = now;
    return true;
  };
}
