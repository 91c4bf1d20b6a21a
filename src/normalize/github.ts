import type { BuildEvent } from "../events/schema.ts";
import { normalizeCheckRun } from "./github/check-run.ts";
import { normalizeCheckSuite } from "./github/check-suite.ts";
import { normalizeCommitStatus } from "./github/commit-status.ts";
import { normalizeDeploymentStatus } from "./github/deployment-status.ts";
import { requireObject, type JsonObject } from "./github/read.ts";
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
 * GitHub webhook → build events. Pure: no I/O, no clock. Throws only PayloadError, when
 * the payload is not the event the X-GitHub-Event header says it is.
 */
export function normalizeGithub(input: NormalizeInput): NormalizeResult {
  const normalize = GITHUB_HANDLED_EVENTS.get(input.event);
  if (normalize === undefined) return { handled: false, reason: input.event };
  const payload = requireObject(input.payload, `${input.event} payload`);
  return { handled: true, events: [normalize(payload, input.deliveryId)] };
}
