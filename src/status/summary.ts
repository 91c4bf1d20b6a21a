import { buildsItsRef } from "../events/ref-status.ts";
import { attemptJobs, newestTries } from "../events/job-tries.ts";
import type { Status } from "../events/schema.ts";
import { webUrl } from "../events/web-url.ts";
import { compareMarks, earliest } from "./merge.ts";
import { omittedJobsOf } from "./run-limit.ts";
import type { BranchState, FailedJob, JobState, RunState, RunSummary, State } from "./model.ts";

const STATE_OF: Record<Status, State> = {
  success: "passing",
  neutral: "passing",
  skipped: "passing",
  failure: "failing",
  timed_out: "failing",
  queued: "running",
  running: "running",
  manual: "running",
  action_required: "running",
  canceled: "canceled",
  unknown: "unknown",
};

export const stateOf = (status: Status): State => STATE_OF[status];

const latest = (values: readonly string[]): string =>
  values.reduce((max, v) => (Date.parse(v) > Date.parse(max) ? v : max));

/** The newest try of each job of a run (a GitLab retry is a new job of the same name). */
export function currentJobs(jobs: readonly JobState[]): JobState[] {
  return newestTries(
    jobs,
    (job) => ({
      id: job.id,
      stage: job.stage,
      name: job.name,
      startedMs: Date.parse(job.startedAt ?? job.createdAt ?? job.mark.time) || 0,
      retriedByAttempt: job.retriedByAttempt === true,
    }),
    (a, b) => compareMarks(a.mark, b.mark),
  );
}

/**
 * The jobs of the run's attempt: once it finished, with the GitHub Actions jobs of earlier
 * attempts that it did not run again (see attemptJobs).
 */
export function jobsOfAttempt(run: RunState, finished: boolean): JobState[] {
  const jobs = [
    ...run.jobs.map((job) => ({ job, attempt: run.attempt })),
    ...(run.earlierJobs ?? []).map(({ attempt, ...job }) => ({ job, attempt })),
  ];
  return attemptJobs(jobs, run.attempt, finished, ({ job, attempt }) => ({
    attempt,
    name: job.name,
    retriedByAttempt: job.retriedByAttempt === true,
  })).map(({ job }) => job);
}

/**
 * Failed jobs a run summary lists. A branch list holds `status.runsPerBranch` summaries in one
 * KV value, which NATS caps at max_payload (1 MB): 300 failed jobs of 190-character matrix
 * names are 95 KB a summary, and the eleventh such run filled the list for good. 20 of 255
 * characters are under 10 KB; `failedJobCount` says how many there are.
 */
export const MAX_LISTED_FAILED_JOBS = 20;

export function failedJobs(jobs: readonly JobState[]): FailedJob[] {
  return currentJobs(jobs)
    .filter((job) => STATE_OF[job.status] === "failing" && !job.allowFailure)
    .map((job) => ({ id: job.id, name: job.name, stage: job.stage, url: job.url, status: job.status }));
}

/**
 * How GitLab ends a pipeline whose jobs all finished: a failed job that may not fail fails it,
 * else a canceled job cancels it; one of only skipped jobs is skipped, any other passed.
 */
function outcomeOfJobs(jobs: readonly Pick<JobState, "status" | "allowFailure">[]): Status {
  if (jobs.some((job) => STATE_OF[job.status] === "failing" && !job.allowFailure)) return "failure";
  if (jobs.some((job) => job.status === "canceled")) return "canceled";
  if (jobs.some((job) => job.status === "unknown")) return "unknown";
  return jobs.every((job) => job.status === "skipped") ? "skipped" : "success";
}

/** The jobs a record left out (run-limit.ts), as far as the run's state needs them. */
const omittedOf = (run: RunState): { rank: number; status: Status; allowFailure: boolean }[] =>
  omittedJobsOf(run).map((job) => ({ ...job, allowFailure: false }));

/**
 * Without a pipeline event the run's jobs tell whether it has started, and on GitLab how it
 * ended: a project may send job hooks alone (or its pipeline hooks may not arrive), and
 * GitLab creates every job of a pipeline when the pipeline starts and hooks each change, so
 * once the newest try of each has finished, so has the pipeline. (A GitHub app creates its
 * check runs as it goes: one that finished may be followed by another.)
 */
export function runStatus(run: RunState): { status: Status; phase: RunSummary["phase"] } {
  if (run.pipeline) return { status: run.pipeline.status, phase: run.pipeline.phase };
  const jobs = currentJobs(run.jobs);
  const omitted = omittedOf(run);
  if (
    run.provider === "gitlab" &&
    jobs.length + omitted.length > 0 &&
    jobs.every((job) => job.phase === "finished") &&
    omitted.every((job) => job.rank >= 2)
  ) {
    return { status: outcomeOfJobs([...jobs, ...omitted]), phase: "finished" };
  }
  const started = run.jobs.some((job) => job.phase !== "queued") || omitted.some((job) => job.rank > 0);
  return started ? { status: "running", phase: "started" } : { status: "queued", phase: "queued" };
}

/**
 * A run summary as the API hands it on: web links only. Events are filtered so when they are
 * read from a webhook, but a summary may come from an event of an earlier release (one still
 * running during a rolling upgrade, one in the stream from before it, a replay) or from a
 * branch list stored before the upgrade, and other tools render these fields as hrefs.
 */
export function withWebLinks(run: RunSummary): RunSummary {
  return {
    ...run,
    url: webUrl(run.url),
    commit: { ...run.commit, url: webUrl(run.commit.url) },
    failedJobs: run.failedJobs.map((job) => ({ ...job, url: webUrl(job.url) })),
  };
}

export function summarize(run: RunState, revision: number): RunSummary {
  const { context, pipeline } = run;
  const { status, phase } = runStatus(run);
  const omitted = run.omittedJobs;
  const createdAt =
    pipeline?.createdAt ?? earliest([...run.jobs.map((j) => j.createdAt), omitted?.createdAt ?? null]);
  const startedAt =
    pipeline?.startedAt ?? earliest([...run.jobs.map((j) => j.startedAt), omitted?.startedAt ?? null]);
  const jobsFinished = [...run.jobs.map((j) => j.finishedAt), omitted?.finishedAt ?? null].flatMap((time) =>
    time === null ? [] : [time],
  );
  const finishedAt =
    pipeline?.finishedAt ?? (phase === "finished" && jobsFinished.length > 0 ? latest(jobsFinished) : null);
  const measured =
    startedAt !== null && finishedAt !== null
      ? Math.max(0, Date.parse(finishedAt) - Date.parse(startedAt))
      : null;
  const author = context.commit.author;
  return {
    provider: run.provider,
    repositoryId: context.repository.id,
    runId: run.runId,
    revision,
    pipeline: context.name,
    number: context.number,
    attempt: run.attempt,
    url: context.url,
    trigger: context.trigger,
    ...(context.workflowId === undefined ? {} : { workflowId: context.workflowId }),
    phase,
    status,
    state: stateOf(status),
    ref: context.ref,
    commit: {
      sha: context.commit.sha,
      title: context.commit.title,
      url: context.commit.url,
      author: author === null ? null : { name: author.name, username: author.username },
    },
    createdAt,
    startedAt,
    finishedAt,
    durationMs: pipeline?.durationMs ?? (Number.isNaN(measured) ? null : measured),
    updatedAt: latest([
      context.mark.time,
      ...(pipeline ? [pipeline.mark.time] : []),
      ...run.jobs.map((j) => j.mark.time),
      ...(omitted?.updatedAt ? [omitted.updatedAt] : []),
    ]),
    ...listedFailedJobs(
      failedJobs(jobsOfAttempt(run, phase === "finished")),
      omittedOf(run).filter((job) => STATE_OF[job.status] === "failing").length,
    ),
  };
}

/** `omitted`: failed jobs the run record left out (run-limit.ts), counted but not listed */
function listedFailedJobs(
  failed: readonly FailedJob[],
  omitted: number,
): Pick<RunSummary, "failedJobs" | "failedJobCount"> {
  if (failed.length <= MAX_LISTED_FAILED_JOBS && omitted === 0) return { failedJobs: failed };
  return { failedJobs: failed.slice(0, MAX_LISTED_FAILED_JOBS), failedJobCount: failed.length + omitted };
}

/**
 * Runs on tags or on refs that are no branch (`refs/pull/166/head`), runs that are not their
 * ref's build (GitLab child pipelines), and runs made only of deployments have no place on a
 * branch.
 */
export function branchOf(run: RunState): string | null {
  const { ref } = run.context;
  if (ref.name === null || ref.type !== "branch") return null;
  // a GitLab child pipeline's state reaches the branch through its parent's
  if (!buildsItsRef(run.provider, run.context.trigger)) return null;
  if (run.pipeline === null && run.jobs.length === 0) return null;
  return ref.name;
}

/** When a run was created (else started, else last updated), in ms: what orders runs. */
export const sortTime = (run: RunSummary): number =>
  Date.parse(run.createdAt ?? run.startedAt ?? run.updatedAt) || 0;

/** Newest first: by creation time, then run number, then id, so every replica sorts alike. */
export function compareNewestFirst(a: RunSummary, b: RunSummary): number {
  return (
    sortTime(b) - sortTime(a) ||
    (b.number ?? 0) - (a.number ?? 0) ||
    (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0) ||
    (a.repositoryId < b.repositoryId ? 1 : a.repositoryId > b.repositoryId ? -1 : 0)
  );
}

/**
 * Puts a run's summary into its branch list. A summary made from a later revision of the
 * run record replaces an older one (run records only move forward, so a higher revision
 * is never behind); the list stays newest first and at most `limit` long. Returns
 * `current` itself when nothing changes.
 */
export function mergeBranch(
  current: BranchState | null,
  run: RunState,
  summary: RunSummary,
  branch: string,
  limit: number,
): BranchState {
  const runs = current?.runs ?? [];
  const same = (r: RunSummary) => r.runId === summary.runId && r.repositoryId === summary.repositoryId;
  const existing = runs.find(same);
  if (current && existing && existing.revision >= summary.revision) return current;
  const next = [...runs.filter((r) => !same(r)), summary].sort(compareNewestFirst).slice(0, limit);
  if (current && !next.includes(summary)) return current;
  return {
    v: 1,
    provider: run.provider,
    repository: run.context.repository,
    branch,
    pipeline: run.context.name,
    runs: next,
  };
}
