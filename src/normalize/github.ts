import type { BuildEvent } from "../events/schema.ts";
import { normalizeCheckRun } from "./github/check-run.ts";
import { normalizeCheckSuite } from "./github/check-suite.ts";
import { normalizeCommitStatus } from "./github/commit-status.ts";
import { normalizeDeploymentStatus } from "./github/deployment-status.ts";
import { optObject, optString, requireObject, type JsonObject } from "./github/read.ts";
import { normalizeWorkflowJob } from "./github/workflow-job.ts";
import { normalizeWorkflowRun } from "./github/workflow-run.ts";
import type { NormalizeInput, NormalizeResult } from "./types.ts";

export {
  GITHUB_COMMIT_STATE_TABLE,
  GITHUB_CONCLUSION_TABLE,
  GITHUB_DEPLOYMENT_STATE_TABLE,
  GITHUB_STATUS_TABLE,
} from "./github/status-tables.ts";

type EventNormalizer = (payload: JsonObject, deliveryId: string | null) => BuildEvent;

/** X-GitHub-Event values that describe a build; everything else is acknowledged and dropped. */
export const GITHUB_HANDLED_EVENTS: ReadonlyMap<string, EventNormalizer> = new Map([
  ["workflow_run", normalizeWorkflowRun],
  ["workflow_job", normalizeWorkflowJob],
  ["check_suite", normalizeCheckSuite],
  ["check_run", normalizeCheckRun],
  ["status", normalizeCommitStatus],
  ["deployment_status", normalizeDeploymentStatus],
]);

/**
 * GitHub Actions reports each workflow run as a check suite and each job as a check run as
 * well. The workflow_run and workflow_job events carry the same builds with their workflow
 * and job names, while every Actions suite is named "GitHub Actions": publishing both would
 * notify each failure twice and put all workflows of a branch into one lane.
 */
const REPORTED_BY_ACTIONS_EVENTS: ReadonlyMap<string, string> = new Map([
  ["check_suite", "GitHub Actions check suites are reported by workflow_run events"],
  ["check_run", "GitHub Actions check runs are reported by workflow_job events"],
]);

function actionsDuplicate(event: string, payload: JsonObject): string | null {
  const reason = REPORTED_BY_ACTIONS_EVENTS.get(event);
  if (reason === undefined) return null;
  const check = optObject(payload, event);
  const app = optObject(check, "app") ?? optObject(optObject(check, "check_suite"), "app");
  return optString(app, "slug") === "github-actions" ? reason : null;
}

/**
 * GitHub webhook → build events. Pure: no I/O, no clock. Throws only PayloadError, when
 * the payload is not the event the X-GitHub-Event header says it is.
 */
export function normalizeGithub(input: NormalizeInput): NormalizeResult {
  const normalize = GITHUB_HANDLED_EVENTS.get(input.event);
  if (normalize === undefined) return { handled: false, reason: null };
  const payload = requireObject(input.payload, `${input.event} payload`);
  const duplicate = actionsDuplicate(input.event, payload);
  if (duplicate !== null) return { handled: false, reason: duplicate };
  return { handled: true, events: [normalize(payload, input.deliveryId)] };
}
