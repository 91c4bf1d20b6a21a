import type { BuildEvent } from "../../events/schema.ts";
import { commitUrl, finalize, firstLine, gitPerson, readRepository, userPerson } from "./common.ts";
import {
  field,
  isObject,
  optObject,
  optString,
  optTime,
  optUrl,
  requireString,
  type JsonObject,
} from "./read.ts";
import { commitStateOutcome } from "./status-tables.ts";

/**
 * A commit status has no run of its own: each POST by an external CI creates a new status
 * object. One sha + context is what a user sees as one check, so that pair is the run.
 */
export function normalizeCommitStatus(payload: JsonObject, deliveryId: string | null): BuildEvent {
  const repository = readRepository(payload);
  const sha = requireString(payload, "sha", "status");
  const context = requireString(payload, "context", "status");
  const state = requireString(payload, "state", "status");
  const { phase, status } = commitStateOutcome(state);
  const updatedAt = optTime(payload, "updated_at");
  const commit = optObject(payload, "commit");
  const gitCommit = optObject(commit, "commit");
  const author = gitPerson(optObject(gitCommit, "author"));
  const authorLogin = optString(optObject(commit, "author"), "login");
  const { branch, head } = branchAt(payload, sha);
  const postedAt = optTime(payload, "created_at");
  // a status of a commit that is no listed branch's head is as old as the commit: see branchAt
  const createdAt = head ? postedAt : earlier(postedAt, optTime(optObject(gitCommit, "committer"), "date"));
  return finalize(
    {
      provider: "github",
      kind: "pipeline",
      phase,
      status,
      providerStatus: state,
      repository,
      run: {
        id: `${sha}:${context}`,
        name: context,
        number: null,
        attempt: 1,
        url: optUrl(payload, "target_url"),
        trigger: null,
        // GitHub shows a context's newest status: a re-run's pending replaces its failure
        latestWins: true,
      },
      ref: { name: branch, type: branch === null ? null : "branch", sha, pullRequest: null },
      commit: {
        sha,
        title: firstLine(optString(gitCommit, "message")),
        url: optUrl(commit, "html_url") ?? commitUrl(repository, sha),
        author: author === null || authorLogin === null ? author : { ...author, username: authorLogin },
      },
      actor: userPerson(optObject(payload, "sender")),
      createdAt,
      startedAt: null,
      finishedAt: phase === "finished" ? updatedAt : null,
      updatedAt,
      durationMs: null,
    },
    deliveryId,
  );
}

/**
 * The branch of a commit status. `branches` lists (up to ten) branches that contain the
 * commit, "but the SHA may or may not be the head of the branch" (GitHub's docs): the branch
 * whose head it is, when one is; else the first listed. A slow build of an older commit then
 * still lands on the branch it was pushed to (its run stays older than the branch's newer
 * commits: a run is as old as its first status, the pending one its CI posts at the start).
 * When no listed branch has the commit at its head, its first status may not have been on
 * that branch at all: a pull request's commit whose build ends after the pull request was
 * merged and its branch deleted is listed under the base branch alone, and a queued build
 * of an older commit posts its first status after the newer commit's. Such a run is as old
 * as its commit (its committer date), so it is never taken for the branch's newest build.
 */
function branchAt(payload: JsonObject, sha: string): { branch: string | null; head: boolean } {
  const branches = field(payload, "branches");
  if (!Array.isArray(branches)) return { branch: null, head: false };
  for (const branch of branches) {
    if (isObject(branch) && optString(optObject(branch, "commit"), "sha") === sha)
      return { branch: optString(branch, "name"), head: true };
  }
  const first: unknown = branches[0];
  return { branch: isObject(first) ? optString(first, "name") : null, head: false };
}

/** The earlier of two contract times (either may be null). */
function earlier(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  return Date.parse(b) < Date.parse(a) ? b : a;
}
