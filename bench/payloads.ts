import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const FIXTURES = join(import.meta.dirname, "../test/fixtures/webhooks/github");
/** a number that appears nowhere else in the payload: replaced by each request's run id */
const MARKER = "987654321012";
/** the same for the branch, when runs share a fixed set of branches */
const BRANCH_MARKER = "bench-branch-marker-4d2f";

type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(join(FIXTURES, name), "utf8")) as Json;

/** A realistic long squash-merge message: what makes real workflow_run payloads large. */
function commitMessage(targetBytes: number): string {
  const lines = ["Merge pull request #4821 from acme/feature/build-cache", ""];
  for (let i = 1; lines.join("\n").length < targetBytes; i++) {
    lines.push(
      `* Cache the dependency layer between builds (step ${i}); invalidate it when the lockfile hash changes so stale modules never reach the test job`,
    );
  }
  return lines.join("\n").slice(0, targetBytes);
}

export interface RunTemplate {
  /** the raw body for one run id; every id gives distinct event ids */
  body(runId: number): string;
  readonly bytes: number;
}

/**
 * A completed workflow_run padded to about `targetBytes` by its head commit message. The
 * run id is spliced into a pre-serialized template so generating a body costs no JSON work.
 * Each run has a branch of its own unless `branches` is given: then runs take turns on that
 * many branches, as real traffic does (many runs per branch).
 */
export function workflowRunTemplate(
  targetBytes: number,
  options: { repository?: string; conclusion?: string; branches?: number } = {},
): RunTemplate {
  const payload = fixture("workflow_run.completed.1.json");
  const run = payload.workflow_run as Json;
  const repository = payload.repository as Json;
  if (options.repository) {
    repository.full_name = options.repository;
    repository.html_url = `https://github.com/${options.repository}`;
    run.repository = repository;
  }
  Object.assign(run, {
    id: Number(MARKER),
    run_number: Number(MARKER),
    // a branch per run: runs of one branch finishing out of order are (rightly) not all
    // notified, and this benchmark measures latency, not lane semantics
    head_branch: options.branches ? BRANCH_MARKER : `bench-${MARKER}`,
    status: "completed",
    conclusion: options.conclusion ?? "success",
    html_url: `${String(repository.html_url)}/actions/runs/${MARKER}`,
    run_started_at: "2024-05-01T10:00:00Z",
    updated_at: "2024-05-01T10:04:00Z",
    // the docs sample's head is another repository (a fork's); benchmark runs are this one's
    head_repository: repository,
  });
  payload.action = "completed";
  const headCommit = run.head_commit as Json;
  const base = JSON.stringify(payload).length - String(headCommit.message).length;
  headCommit.message = commitMessage(Math.max(0, targetBytes - base));
  const parts = JSON.stringify(payload).split(MARKER);
  const branches = options.branches;
  const body = branches
    ? (runId: number) => parts.join(String(runId)).replace(BRANCH_MARKER, `bench-${runId % branches}`)
    : (runId: number) => parts.join(String(runId));
  return { body, bytes: Buffer.byteLength(body(Number(MARKER))) };
}

/** One workflow_job event of `runId` (a run started by a workflow_run with the same repository). */
export function workflowJobBody(
  runId: number,
  job: {
    id: number;
    name: string;
    status: "in_progress" | "completed";
    conclusion: string | null;
    at: string;
  },
  repository: string,
): string {
  const payload = fixture("workflow_job.completed.1.json");
  const wj = payload.workflow_job as Json;
  // the run's repository (same id): a job belongs to its run only within one repository
  const repo = fixture("workflow_run.completed.1.json").repository as Json;
  repo.full_name = repository;
  repo.html_url = `https://github.com/${repository}`;
  payload.repository = repo;
  Object.assign(wj, {
    id: job.id,
    run_id: runId,
    run_attempt: 1,
    name: job.name,
    head_branch: "main",
    status: job.status,
    conclusion: job.conclusion,
    started_at: "2024-05-01T10:00:00Z",
    completed_at: job.status === "completed" ? job.at : null,
    html_url: `https://github.com/${repository}/actions/runs/${runId}/job/${job.id}`,
    run_url: `https://api.github.com/repos/${repository}/actions/runs/${runId}`,
  });
  payload.action = job.status;
  return JSON.stringify(payload);
}

/** GitHub's X-Hub-Signature-256 (synchronous HMAC: the load generator must not wait on WebCrypto). */
export const signBody = (secret: string, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
