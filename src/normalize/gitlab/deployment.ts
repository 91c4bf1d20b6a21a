import type { BuildEventData } from "../../events/schema.ts";
import { PayloadError } from "../errors.ts";
import {
  actorOf,
  idAt,
  objectAt,
  pathFromWebUrl,
  requiredId,
  requiredString,
  stringAt,
  type JsonObject,
} from "./fields.ts";
import { gitlabPhaseAndStatus } from "./status.ts";
import { parseGitlabTime } from "./time.ts";

/** Deployment hooks carry only short_sha; the full sha is the last segment of commit_url. */
function deploymentSha(payload: JsonObject): string {
  const fromUrl = /\/commit\/([0-9a-f]{40}|[0-9a-f]{64})\/?$/i.exec(
    stringAt(payload, "commit_url") ?? "",
  )?.[1];
  const sha = fromUrl ?? stringAt(payload, "short_sha");
  if (sha === undefined || sha === null)
    throw new PayloadError("neither commit_url nor short_sha names a commit");
  return sha;
}

/** Deployment Hook (object_kind "deployment") → one deployment event. */
export function deploymentData(payload: JsonObject): BuildEventData {
  const project = objectAt(payload, "project");
  const deploymentId = requiredId(payload, "deployment_id", "payload");
  const environment = requiredString(payload, "environment", "payload");
  const providerStatus = requiredString(payload, "status", "payload");
  const projectId = requiredId(project, "id", "project");
  const webUrl = stringAt(project, "web_url");
  const fullName = stringAt(project, "path_with_namespace") ?? pathFromWebUrl(webUrl);
  if (fullName === null) throw new PayloadError("project.path_with_namespace is missing");
  const sha = deploymentSha(payload);

  // status_changed_at is the only time a deployment hook carries: it is when this status began.
  const changedAt = parseGitlabTime(payload["status_changed_at"]);
  // That time says nothing about how far a deployment with an unknown status got: queued.
  const { phase, status } = gitlabPhaseAndStatus(providerStatus, { startedAt: null, finishedAt: null });
  const ref = stringAt(payload, "ref");
  const deployableId = idAt(payload, "deployable_id");

  return {
    provider: "gitlab",
    kind: "deployment",
    phase,
    status,
    providerStatus,
    repository: { id: projectId, fullName, url: webUrl },
    run: {
      // The deploying job: deployment hooks do not name the pipeline. Prefixed, since job,
      // deployment and pipeline ids are counted apart and a bare one could name a pipeline.
      id: deployableId === null ? `deployment:${deploymentId}` : `job:${deployableId}`,
      // Routes group deployments by environment, the way pipelines are grouped by name.
      name: environment,
      number: null,
      attempt: 1,
      url: stringAt(payload, "deployable_url"),
      trigger: null,
    },
    deployment: { id: deploymentId, environment, url: stringAt(payload, "environment_external_url") },
    // Deployment hooks say `ref` (newer versions) but not whether it is a tag or a branch.
    ref: { name: ref, type: null, sha, pullRequest: null },
    commit: {
      sha,
      title: stringAt(payload, "commit_title"),
      url: stringAt(payload, "commit_url"),
      author: null,
    },
    actor: actorOf(payload),
    createdAt: phase === "queued" ? changedAt : null,
    startedAt: phase === "started" ? changedAt : null,
    finishedAt: phase === "finished" ? changedAt : null,
    updatedAt: changedAt,
    durationMs: null,
  };
}
