/** What tells the tries of one job apart. */
export interface JobTry {
  readonly stage: string | null;
  readonly name: string;
  /** when the try started (else was created); -Infinity when unknown */
  readonly startedMs: number;
}

/**
 * GitLab gives a retried job a new id under the same stage and name: only the newest try of
 * each (stage, name) counts, so a job that failed and then passed on retry is not a failed
 * job. Newest by start time, then by `compare` (positive when its first argument is newer).
 * The status store and the notices count jobs with this one rule.
 */
export function newestTries<T>(
  jobs: readonly T[],
  tryOf: (job: T) => JobTry,
  compare: (a: T, b: T) => number,
): T[] {
  const newest = new Map<string, { job: T; startedMs: number }>();
  for (const job of jobs) {
    const { stage, name, startedMs } = tryOf(job);
    const key = `${stage ?? ""}\u0000${name}`;
    const seen = newest.get(key);
    if (
      seen === undefined ||
      startedMs > seen.startedMs ||
      (startedMs === seen.startedMs && compare(job, seen.job) > 0)
    ) {
      newest.set(key, { job, startedMs });
    }
  }
  return [...newest.values()].map(({ job }) => job);
}
