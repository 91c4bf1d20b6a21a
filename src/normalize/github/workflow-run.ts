import type { BuildEvent } from "../../events/schema.ts";
import {
  attempt,
  durationBetween,
  finalize,
  firstPullRequest,
  headCommit,
  readRef,
  readRepository,
  requireSection,
  userPerson,
  readChecksState,
} from "./common.ts";
import {
  field,
  optInt,
  optObject,
  optString,
  optTime,
  optUrl,
  requireId,
  requireString,
  type JsonObject,
} from "./read.ts";

/**
 * The workflow's own name: `workflow_run.name` is the run's, which a `run-name:` or a dynamic
 * workflow (CodeQL's "PR #166") sets per run, and which is empty in some payloads. Lanes,
 * branch lists and routes need the same name for every run of a workflow.
 */
function workflowName(payload: JsonObject, run: JsonObject): string {
  const named = (value: string | null): string | null => (value === null || value === "" ? null : value);
  return (
    named(optString(optObject(payload, "workflow"), "name")) ??
    named(optString(run, "name")) ??
    optString(run, "path") ??
    ""
  );
}

/**
 * A pull request from a fork runs in this repository on the fork's branch, and GitHub names
 * that branch alone: a stranger's fork PR from its own `main` would count as this
 * repository's `main` (its badge, its lane, its routes). GitHub leaves `pull_requests` empty
 * for forks, so the branch is named as GitHub's pull request page does: `owner:branch`. The
 * same holds for a workflow another run triggered (event workflow_run), which inherits the
 * fork's head: whatever the event, a head in another repository is a fork's.
 */
function headBranch(payload: JsonObject, run: JsonObject): string | null {
  const branch = optString(run, "head_branch");
  const head = optObject(run, "head_repository");
  const fromFork =
    branch !== null &&
    branch !== "" &&
    field(head, "id") !== undefined &&
    field(head, "id") !== field(optObject(payload, "repository"), "id");
  if (!fromFork) return branch;
  const owner = optString(optObject(head, "owner"), "login") ?? optString(head, "full_name")?.split("/")[0];
  return owner ? `${owner}:${branch}` : branch;
}

/** Two workflows may share a name, and a renamed workflow keeps its id: lanes follow the id. */
function workflowIdOf(run: JsonObject): { workflowId: string } | Record<string, never> {
  const id = field(run, "workflow_id");
  return (typeof id === "number" && Number.isSafeInteger(id)) || (typeof id === "string" && id !== "")
    ? { workflowId: String(id) }
    : {};
}

export function normalizeWorkflowRun(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const run = requireSection(payload, "workflow_run");
  const repository = readRepository(payload);
  const sha = requireString(run, "head_sha", "workflow_run");
  const { phase, status: normalized, providerStatus } = readChecksState(run, "workflow_run");
  const updatedAt = optTime(run, "updated_at");
  const startedAt = optTime(run, "run_started_at");
  // a finished run's last update is its end: GitHub has no separate completed_at on runs
  const finishedAt = phase === "finished" ? updatedAt : null;
  return finalize(
    {
      provider: "github",
      kind: "pipeline",
      phase,
      status: normalized,
      providerStatus,
      repository,
      run: {
        id: requireId(run, "id", "workflow_run"),
        name: workflowName(payload, run),
        number: optInt(run, "run_number"),
        attempt: attempt(optInt(run, "run_attempt")),
        url: optUrl(run, "html_url"),
        trigger: optString(run, "event"),
        ...workflowIdOf(run),
      },
      ref: readRef(headBranch(payload, run), sha, firstPullRequest(run)),
      commit: headCommit(run, sha, repository),
      actor: userPerson(
        optObject(run, "triggering_actor") ?? optObject(run, "actor") ?? optObject(payload, "sender"),
      ),
      createdAt: optTime(run, "created_at"),
      startedAt,
      finishedAt,
      updatedAt,
      durationMs: durationBetween(startedAt, finishedAt),
    },
    deliveryId,
  );
}
