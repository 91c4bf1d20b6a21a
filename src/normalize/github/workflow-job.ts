import type { BuildEvent } from "../../events/schema.ts";
import {
  attempt,
  bareCommit,
  durationBetween,
  finalize,
  readRef,
  readRepository,
  requireSection,
  userPerson,
  readChecksState,
} from "./common.ts";
import {
  optInt,
  optObject,
  optString,
  optTime,
  optUrl,
  requireId,
  requireString,
  type JsonObject,
} from "./read.ts";

export function normalizeWorkflowJob(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const job = requireSection(payload, "workflow_job");
  const repository = readRepository(payload);
  const runId = requireId(job, "run_id", "workflow_job");
  const sha = requireString(job, "head_sha", "workflow_job");
  const { phase, status: normalized, providerStatus } = readChecksState(job, "workflow_job");
  const createdAt = optTime(job, "created_at");
  const startedAt = optTime(job, "started_at");
  const finishedAt = phase === "finished" ? optTime(job, "completed_at") : null;
  return finalize(
    {
      provider: "github",
      kind: "job",
      phase,
      status: normalized,
      providerStatus,
      repository,
      run: {
        id: runId,
        name: optString(job, "workflow_name") ?? "",
        number: null,
        attempt: attempt(optInt(job, "run_attempt")),
        // job payloads carry only the API run_url; the page follows GitHub's fixed layout
        url: repository.url === null ? null : `${repository.url}/actions/runs/${runId}`,
        trigger: null,
      },
      job: {
        id: requireId(job, "id", "workflow_job"),
        name: optString(job, "name") ?? "",
        url: optUrl(job, "html_url"),
        stage: null,
        runnerName: optString(job, "runner_name"),
        allowFailure: false,
        // a re-run is a new run_attempt: two jobs of one attempt that share a name are two jobs
        retriedByAttempt: true,
      },
      ref: readRef(optString(job, "head_branch"), sha, null),
      commit: bareCommit(sha, repository),
      actor: userPerson(optObject(payload, "sender")),
      createdAt,
      startedAt,
      finishedAt,
      // jobs have no updated_at: the latest of their own timestamps names this state
      updatedAt: finishedAt ?? startedAt ?? createdAt,
      durationMs: durationBetween(startedAt, finishedAt),
    },
    deliveryId,
  );
}
