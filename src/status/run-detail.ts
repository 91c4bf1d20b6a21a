import type { Provider } from "../events/schema.ts";
import type { DeploymentState, JobState, RunState, RunSummary, State } from "./model.ts";
import { webUrl } from "../events/web-url.ts";
import { omittedCount } from "./run-limit.ts";
import { currentJobs, jobsOfAttempt, runStatus, stateOf, summarize, withWebLinks } from "./summary.ts";

export interface JobView {
  readonly id: string;
  readonly name: string;
  readonly stage: string | null;
  readonly url: string | null;
  readonly runnerName: string | null;
  readonly allowFailure: boolean;
  readonly phase: JobState["phase"];
  readonly status: JobState["status"];
  readonly providerStatus: string;
  readonly state: State;
  /** a newer try of the same job exists (GitLab retries get a new id) */
  readonly retried: boolean;
  readonly createdAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
}

export interface RunDetail extends RunSummary {
  readonly repository: { readonly id: string; readonly fullName: string; readonly url: string | null };
  readonly jobs: readonly JobView[];
  readonly deployments: readonly Omit<DeploymentState, "mark">[];
  /** jobs the run record left out to stay within NATS's max_payload (absent when none) */
  readonly omittedJobs?: number;
}

const byStart = (a: JobState, b: JobState): number =>
  (Date.parse(a.startedAt ?? a.createdAt ?? a.mark.time) || 0) -
    (Date.parse(b.startedAt ?? b.createdAt ?? b.mark.time) || 0) || a.name.localeCompare(b.name);

export function runDetail(run: RunState, revision: number): RunDetail {
  const jobs = jobsOfAttempt(run, runStatus(run).phase === "finished");
  const current = new Set(currentJobs(jobs).map((j) => j.id));
  return {
    ...withWebLinks(summarize(run, revision)),
    repository: { ...run.context.repository, url: webUrl(run.context.repository.url) },
    jobs: jobs.sort(byStart).map((job) => ({
      id: job.id,
      name: job.name,
      stage: job.stage,
      url: webUrl(job.url),
      runnerName: job.runnerName,
      allowFailure: job.allowFailure,
      phase: job.phase,
      status: job.status,
      providerStatus: job.providerStatus,
      state: stateOf(job.status),
      retried: !current.has(job.id),
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      durationMs: job.durationMs,
    })),
    deployments: run.deployments.map(({ mark: _mark, ...rest }) => ({ ...rest, url: webUrl(rest.url) })),
    ...(run.omittedJobs ? { omittedJobs: omittedCount(run) } : {}),
  };
}

export type RunLocator = (
  provider: Provider,
  runId: string,
) => Promise<{ run: RunState; revision: number } | null>;
