import { postGithub, readFixture, type PostResult } from "./webhooks.ts";

type Json = Record<string, unknown>;

const baseRun = JSON.parse(readFixture("github/workflow_run.completed.2.json")) as Json;
const baseJob = JSON.parse(readFixture("github/workflow_job.completed.1.json")) as Json;

export interface RunState {
  readonly runId: number;
  readonly status: "queued" | "in_progress" | "completed";
  readonly conclusion?: "success" | "failure" | "cancelled" | null;
  /** seconds after a fixed epoch: later states must have later times */
  readonly at: number;
  readonly attempt?: number;
  readonly branch?: string;
  readonly name?: string;
  readonly repository?: string;
}

function repositoryOf(fullName: string | undefined): Json {
  const repository = structuredClone(baseRun.repository) as Json;
  if (fullName) {
    repository.full_name = fullName;
    repository.html_url = `https://github.com/${fullName}`;
  }
  return repository;
}

const iso = (seconds: number): string =>
  new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString().replace(".000", "");

/** A real workflow_run payload (GitHub's example) re-aimed at a given run and state. */
export function workflowRun(state: RunState): string {
  const run = structuredClone(baseRun.workflow_run) as Json;
  const repository = repositoryOf(state.repository);
  Object.assign(run, {
    id: state.runId,
    name: state.name ?? "CI",
    run_number: state.runId % 100_000,
    run_attempt: state.attempt ?? 1,
    status: state.status,
    conclusion: state.status === "completed" ? (state.conclusion ?? "success") : null,
    head_branch: state.branch ?? "main",
    created_at: iso(0),
    run_started_at: iso(1),
    updated_at: iso(state.at),
    html_url: `https://github.com/${String(repository.full_name)}/actions/runs/${state.runId}`,
  });
  return JSON.stringify({
    ...baseRun,
    action: state.status === "completed" ? "completed" : "requested",
    workflow_run: run,
    repository,
  });
}

/** A real workflow_job payload re-aimed at a job of a run (in the same repository as workflowRun's). */
export function workflowJob(runId: number, jobId: number, state: Omit<RunState, "runId">): string {
  const job = structuredClone(baseJob.workflow_job) as Json;
  Object.assign(job, {
    id: jobId,
    run_id: runId,
    name: `job-${jobId}`,
    workflow_name: state.name ?? "CI",
    run_attempt: state.attempt ?? 1,
    status: state.status,
    conclusion: state.status === "completed" ? (state.conclusion ?? "success") : null,
    head_branch: state.branch ?? "main",
    started_at: iso(1),
    completed_at: state.status === "completed" ? iso(state.at) : null,
    created_at: iso(Math.min(state.at, 1)),
  });
  return JSON.stringify({
    ...baseJob,
    action: state.status,
    workflow_job: job,
    repository: repositoryOf(state.repository),
  });
}

/**
 * Posts a run that finished failed (a first failure: a notice for each route that wants one)
 * to a gateway's GitHub endpoint, signed; `where` picks its repository and branch.
 */
export function postFailedRun(
  url: string,
  runId: number,
  where: Pick<RunState, "repository" | "branch"> = {},
): Promise<PostResult> {
  return postGithub(
    url,
    "workflow_run",
    workflowRun({ runId, status: "completed", conclusion: "failure", at: 10, ...where }),
  );
}
