import type { Phase, Status } from "../../events/schema.ts";

/** What one provider state means in the contract. `status: null` = taken from the conclusion. */
export interface Outcome {
  readonly phase: Phase;
  readonly status: Status;
}
export interface StatusRow {
  readonly phase: Phase;
  readonly status: Status | null;
}

/**
 * Actions and Checks `status` (workflow_run, workflow_job, check_suite, check_run). The
 * webhook `action` is never used: redeliveries and GitHub's own payloads disagree with it
 * (a workflow_run "completed" delivery may carry status "queued"). `waiting` (a job held by
 * an environment protection rule) is still queued from the build's point of view.
 */
export const GITHUB_STATUS_TABLE: Readonly<Record<string, StatusRow>> = {
  requested: { phase: "queued", status: "queued" },
  queued: { phase: "queued", status: "queued" },
  waiting: { phase: "queued", status: "queued" },
  pending: { phase: "queued", status: "queued" },
  in_progress: { phase: "started", status: "running" },
  completed: { phase: "finished", status: null },
};

/**
 * `conclusion` of a completed run/job/suite. `stale` means GitHub gave up on a check that
 * never completed: the outcome is not known, so it is `unknown` rather than a failure that
 * would page someone. `startup_failure` (the workflow file could not start) is a failure.
 */
export const GITHUB_CONCLUSION_TABLE: Readonly<Record<string, Status>> = {
  success: "success",
  failure: "failure",
  startup_failure: "failure",
  cancelled: "canceled",
  skipped: "skipped",
  timed_out: "timed_out",
  action_required: "action_required",
  neutral: "neutral",
  stale: "unknown",
};

/** Commit status `state`. A pending commit status means the external CI is working on it. */
export const GITHUB_COMMIT_STATE_TABLE: Readonly<Record<string, Outcome>> = {
  pending: { phase: "started", status: "running" },
  success: { phase: "finished", status: "success" },
  failure: { phase: "finished", status: "failure" },
  error: { phase: "finished", status: "failure" },
};

/**
 * Deployment status `state`. `inactive` is set when a newer deployment to the same
 * environment replaced this one: it finished, but neither succeeded nor failed now, so neutral.
 */
export const GITHUB_DEPLOYMENT_STATE_TABLE: Readonly<Record<string, Outcome>> = {
  queued: { phase: "queued", status: "queued" },
  pending: { phase: "queued", status: "queued" },
  waiting: { phase: "queued", status: "queued" },
  in_progress: { phase: "started", status: "running" },
  success: { phase: "finished", status: "success" },
  failure: { phase: "finished", status: "failure" },
  error: { phase: "finished", status: "failure" },
  inactive: { phase: "finished", status: "neutral" },
};

/** An unrecognized state claims nothing has finished, so it cannot close a run by mistake. */
const UNKNOWN_STATE: Outcome = { phase: "started", status: "unknown" };

function lookup<T>(table: Readonly<Record<string, T>>, key: string | null): T | undefined {
  return key !== null && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Actions/Checks status + conclusion → outcome. */
export function checksOutcome(status: string | null, conclusion: string | null): Outcome {
  const row = lookup(GITHUB_STATUS_TABLE, status);
  if (row?.status != null) return { phase: row.phase, status: row.status };
  // completed, or a status GitHub left null/unknown while it did report a conclusion
  if (row !== undefined || conclusion !== null) {
    return { phase: "finished", status: lookup(GITHUB_CONCLUSION_TABLE, conclusion) ?? "unknown" };
  }
  return UNKNOWN_STATE;
}

export function commitStateOutcome(state: string): Outcome {
  return lookup(GITHUB_COMMIT_STATE_TABLE, state) ?? UNKNOWN_STATE;
}

export function deploymentStateOutcome(state: string): Outcome {
  return lookup(GITHUB_DEPLOYMENT_STATE_TABLE, state) ?? UNKNOWN_STATE;
}
