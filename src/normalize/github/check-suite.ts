import type { BuildEvent } from "../../events/schema.ts";
import {
  checkSuiteUrl,
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
import { optObject, optString, optTime, requireId, requireString, type JsonObject } from "./read.ts";

/** The run name of a check suite; check_run events reuse it so both land on one run. */
export function suiteName(suite: JsonObject | null): string {
  return optString(optObject(suite, "app"), "name") ?? "checks";
}

export function normalizeCheckSuite(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const suite = requireSection(payload, "check_suite");
  const repository = readRepository(payload);
  const sha = requireString(suite, "head_sha", "check_suite");
  const id = requireId(suite, "id", "check_suite");
  const { phase, status: normalized, providerStatus } = readChecksState(suite, "check_suite");
  const createdAt = optTime(suite, "created_at");
  const updatedAt = optTime(suite, "updated_at");
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
        id,
        name: suiteName(suite),
        number: null,
        attempt: 1,
        url: checkSuiteUrl(repository, sha, id),
        trigger: null,
      },
      ref: readRef(optString(suite, "head_branch"), sha, firstPullRequest(suite)),
      commit: headCommit(suite, sha, repository),
      actor: userPerson(optObject(payload, "sender")),
      createdAt,
      // suites have no start time; GitHub hands a suite to its app as soon as it is created
      startedAt: null,
      finishedAt,
      updatedAt,
      durationMs: durationBetween(createdAt, finishedAt),
    },
    deliveryId,
  );
}
