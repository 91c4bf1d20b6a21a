import type { BuildEvent } from "../../events/schema.ts";
import {
  bareCommit,
  checkSuiteUrl,
  durationBetween,
  finalize,
  firstPullRequest,
  readRef,
  readRepository,
  requireSection,
  userPerson,
  readChecksState,
} from "./common.ts";
import { suiteName } from "./check-suite.ts";
import {
  optObject,
  optString,
  optTime,
  optUrl,
  requireId,
  requireObject,
  requireString,
  field,
  type JsonObject,
} from "./read.ts";

export function normalizeCheckRun(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const check = requireSection(payload, "check_run");
  const suite = requireObject(field(check, "check_suite"), "check_run.check_suite");
  const repository = readRepository(payload);
  const sha = requireString(check, "head_sha", "check_run");
  const suiteId = requireId(suite, "id", "check_run.check_suite");
  const { phase, status: normalized, providerStatus } = readChecksState(check, "check_run");
  const startedAt = optTime(check, "started_at");
  const finishedAt = phase === "finished" ? optTime(check, "completed_at") : null;
  return finalize(
    {
      provider: "github",
      kind: "job",
      phase,
      status: normalized,
      providerStatus,
      repository,
      run: {
        id: suiteId,
        name: suiteName(suite),
        number: null,
        attempt: 1,
        url: checkSuiteUrl(repository, sha, suiteId),
        trigger: null,
      },
      job: {
        id: requireId(check, "id", "check_run"),
        name: optString(check, "name") ?? "",
        url: optUrl(check, "html_url") ?? optUrl(check, "details_url"),
        stage: null,
        runnerName: null,
        allowFailure: false,
      },
      ref: readRef(optString(suite, "head_branch"), sha, firstPullRequest(check)),
      commit: bareCommit(sha, repository),
      actor: userPerson(optObject(payload, "sender")),
      createdAt: null,
      startedAt,
      finishedAt,
      // check runs have no updated_at: the latest of their own timestamps names this state
      updatedAt: finishedAt ?? startedAt,
      durationMs: durationBetween(startedAt, finishedAt),
    },
    deliveryId,
  );
}
