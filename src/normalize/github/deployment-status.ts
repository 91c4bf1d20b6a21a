import type { BuildEvent } from "../../events/schema.ts";
import { bareCommit, finalize, readRef, readRepository, requireSection, userPerson } from "./common.ts";
import { optObject, optString, optTime, optUrl, requireId, requireString, type JsonObject } from "./read.ts";
import { deploymentStateOutcome } from "./status-tables.ts";

export function normalizeDeploymentStatus(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const deploymentStatus = requireSection(payload, "deployment_status");
  const deployment = requireSection(payload, "deployment");
  const repository = readRepository(payload);
  const deploymentId = requireId(deployment, "id", "deployment");
  const sha = requireString(deployment, "sha", "deployment");
  const state = requireString(deploymentStatus, "state", "deployment_status");
  const { phase, status } = deploymentStateOutcome(state);
  // deployments made by Actions carry their workflow run; its name is what routes match on
  const workflowRun = optObject(payload, "workflow_run");
  const updatedAt = optTime(deploymentStatus, "updated_at");
  const ref = optString(deployment, "ref");
  return finalize(
    {
      provider: "github",
      kind: "deployment",
      phase,
      status,
      providerStatus: state,
      repository,
      run: {
        id: deploymentId,
        name: optString(workflowRun, "name") ?? optString(deployment, "task") ?? "deploy",
        number: null,
        attempt: 1,
        url: optUrl(deploymentStatus, "log_url") ?? optUrl(deploymentStatus, "target_url"),
        trigger: optString(workflowRun, "event"),
      },
      deployment: {
        id: deploymentId,
        environment: optString(deploymentStatus, "environment") ?? optString(deployment, "environment") ?? "",
        url: optUrl(deploymentStatus, "environment_url") ?? optUrl(deploymentStatus, "target_url"),
      },
      // a deployment of a bare sha names no branch
      ref: readRef(ref === sha ? null : ref, sha, null),
      commit: bareCommit(sha, repository),
      actor: userPerson(optObject(deploymentStatus, "creator") ?? optObject(payload, "sender")),
      createdAt: optTime(deployment, "created_at"),
      startedAt: null,
      finishedAt: phase === "finished" ? updatedAt : null,
      updatedAt,
      durationMs: null,
    },
    deliveryId,
  );
}
