import { finalize } from "./finalize.ts";
import type { BuildEventData } from "../events/schema.ts";
import { PayloadError } from "./errors.ts";
import { deploymentData } from "./gitlab/deployment.ts";
import { isObject, type JsonObject } from "./gitlab/fields.ts";
import { jobData } from "./gitlab/job.ts";
import { pipelineData, pipelineJobsData } from "./gitlab/pipeline.ts";
import type { NormalizeInput, NormalizeResult } from "./types.ts";

export { GITLAB_STATUS_TABLE } from "./gitlab/status.ts";
export { parseGitlabTime } from "./gitlab/time.ts";

interface HandledHook {
  readonly objectKind: string;
  readonly toData: (payload: JsonObject) => BuildEventData;
  /** more events the same hook tells, published before its own */
  readonly alsoData?: (payload: JsonObject, data: BuildEventData) => readonly BuildEventData[];
}

/** X-Gitlab-Event → the object_kind its body must have. GitLab before 9.3 sent "Build Hook". */
const HANDLED_HOOKS: ReadonlyMap<string, HandledHook> = new Map([
  ["Pipeline Hook", { objectKind: "pipeline", toData: pipelineData, alsoData: pipelineJobsData }],
  ["Job Hook", { objectKind: "build", toData: jobData }],
  ["Build Hook", { objectKind: "build", toData: jobData }],
  ["Deployment Hook", { objectKind: "deployment", toData: deploymentData }],
]);

/**
 * GitLab webhook → build events. Pure: no I/O, no clock. Throws only PayloadError, when the
 * body is not the event its X-Gitlab-Event header names.
 */
export function normalizeGitlab(input: NormalizeInput): NormalizeResult {
  const hook = HANDLED_HOOKS.get(input.event);
  if (hook === undefined) return { handled: false, reason: null };
  if (!isObject(input.payload))
    throw new PayloadError(`X-Gitlab-Event "${input.event}" body is not a JSON object`);

  const objectKind = input.payload["object_kind"];
  if (objectKind !== hook.objectKind) {
    const got = typeof objectKind === "string" ? `"${objectKind}"` : "(missing)";
    throw new PayloadError(`X-Gitlab-Event "${input.event}" does not match object_kind ${got}`);
  }
  const data = hook.toData(input.payload);
  // a finished pipeline's jobs first: its notice is decided when its own event arrives
  const also = hook.alsoData?.(input.payload, data) ?? [];
  return {
    handled: true,
    events: [...also, data].map((each) => finalize(each, input.deliveryId)),
  };
}
