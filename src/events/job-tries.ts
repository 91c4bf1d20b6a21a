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

/** What places a job in a run's attempts. */
export interface AttemptOfJob {
  readonly attempt: number;
  readonly name: string;
  /** see JobTry */
  readonly retriedByAttempt: boolean;
}

/**
 * The jobs of a run's attempt `attempt`. Re-running one job of a GitHub Actions run (or its
 * failed jobs) starts a new attempt of those jobs and their dependents alone: the others keep
 * their results from the attempt before, and GitHub sends no event of them again. So once the
 * attempt `finished`, an Actions job of an earlier attempt is one of its jobs too, unless a
 * later attempt up to this one ran a job of its name. (While it runs, a job not yet started
 * again would show its old result.) The status store and the notices use this one rule.
 */
export function attemptJobs<T>(
  jobs: readonly T[],
  attempt: number,
  finished: boolean,
  of: (job: T) => AttemptOfJob,
): T[] {
  const own = jobs.filter((job) => of(job).attempt === attempt);
  if (!finished) return own;
  /** the latest attempt up to `attempt` that ran a job of each name */
  const latest = new Map<string, number>();
  for (const job of jobs) {
    const { attempt: ran, name } = of(job);
    if (ran <= attempt && ran > (latest.get(name) ?? 0)) latest.set(name, ran);
  }
  const kept = jobs.filter((job) => {
    const { attempt: ran, name, retriedByAttempt } = of(job);
    return retriedByAttempt && ran < attempt && latest.get(name) === ran;
  });
  return [...own, ...kept];
}
