/** What tells the tries of one job apart. */
export interface JobTry {
  readonly id: string;
  readonly stage: string | null;
  readonly name: string;
  /** when the try started (else was created); -Infinity when unknown */
  readonly startedMs: number;
  /**
   * GitHub Actions: a job is retried only as a new run attempt, so within an attempt its id
   * is the job (two jobs may share a name). False for jobs stored before it was kept.
   */
  readonly retriedByAttempt: boolean;
}

/**
 * GitLab gives a retried job a new id under the same stage and name, and so does a GitHub app
 * whose check run is re-requested: only the newest try of each (stage, name) counts, so a job
 * that failed and then passed on retry is not a failed job. Newest by start time, then by
 * `compare` (positive when its first argument is newer). A GitHub Actions job is never such a
 * try: it counts by its id, so a failed job is not hidden by a passing one of the same name.
 * The status store and the notices count jobs with this one rule.
 */
export function newestTries<T>(
  jobs: readonly T[],
  tryOf: (job: T) => JobTry,
  compare: (a: T, b: T) => number,
): T[] {
  const newest = new Map<string, { job: T; startedMs: number }>();
  for (const job of jobs) {
    const { id, stage, name, startedMs, retriedByAttempt } = tryOf(job);
    const key = retriedByAttempt ? `id\u0000${id}` : `name\u0000${stage ?? ""}\u0000${name}`;
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
