import type { BuildEventData, Phase, Status } from "../../events/schema.ts";
import { firstLineOf } from "../first-line.ts";
import {
  field,
  firstOf,
  nullableString,
  optInt,
  optObject,
  optString,
  optUrl,
  requireId,
  requireObject,
  requireString,
  type JsonObject,
} from "./read.ts";
import { checksOutcome } from "./status-tables.ts";

export type Repository = BuildEventData["repository"];
export type Person = NonNullable<BuildEventData["actor"]>;
export type Ref = BuildEventData["ref"];
export type Commit = BuildEventData["commit"];

export function readRepository(payload: JsonObject): Repository {
  const repo = requireObject(field(payload, "repository"), "repository");
  return {
    id: requireId(repo, "id", "repository"),
    fullName: requireString(repo, "full_name", "repository"),
    url: optUrl(repo, "html_url"),
  };
}

/** A GitHub user object (sender, actor): the login is the username. */
export function userPerson(user: JsonObject | null): Person | null {
  if (user === null) return null;
  const person = {
    name: optString(user, "name"),
    email: optString(user, "email"),
    username: optString(user, "login"),
  };
  return person.name === null && person.email === null && person.username === null ? null : person;
}

/** A git author object ({name, email, username?}) as found in head_commit. */
export function gitPerson(author: JsonObject | null): Person | null {
  if (author === null) return null;
  const person = {
    name: optString(author, "name"),
    email: optString(author, "email"),
    username: optString(author, "username"),
  };
  return person.name === null && person.email === null && person.username === null ? null : person;
}

export function firstLine(message: string | null): string | null {
  return message === null ? null : firstLineOf(message);
}

export function commitUrl(repository: Repository, sha: string): string | null {
  return repository.url === null ? null : `${repository.url}/commit/${sha}`;
}

/**
 * A check suite's page on GitHub, the one its UI links a suite's checks to: check suite
 * payloads name no page of their own, and another app's suite has no Actions run page.
 */
export function checkSuiteUrl(repository: Repository, sha: string, suiteId: string): string | null {
  if (repository.url === null) return null;
  return `${repository.url}/commit/${encodeURIComponent(sha)}/checks?check_suite_id=${encodeURIComponent(suiteId)}`;
}

/** head_commit of workflow_run / check_suite payloads. */
export function headCommit(source: JsonObject, sha: string, repository: Repository): Commit {
  const head = optObject(source, "head_commit");
  return {
    sha,
    title: firstLine(optString(head, "message")),
    url: commitUrl(repository, sha),
    author: gitPerson(optObject(head, "author")),
  };
}

export function bareCommit(sha: string, repository: Repository): Commit {
  return { sha, title: null, url: commitUrl(repository, sha), author: null };
}

const PULL_REF = /^refs\/pull\/(\d+)\/(?:head|merge)$/;

/**
 * head_branch is normally a bare branch name. Runs triggered by `pull_request_target`-like
 * dynamic events carry "refs/pull/N/head": that is no branch, but it names the pull request.
 */
export function readRef(headBranch: string | null, sha: string, pullRequest: number | null): Ref {
  if (headBranch === null || headBranch === "") return { name: null, type: null, sha, pullRequest };
  if (headBranch.startsWith("refs/tags/")) {
    return { name: headBranch.slice("refs/tags/".length), type: "tag", sha, pullRequest };
  }
  if (headBranch.startsWith("refs/heads/")) {
    return { name: headBranch.slice("refs/heads/".length), type: "branch", sha, pullRequest };
  }
  const pull = PULL_REF.exec(headBranch);
  if (pull !== null)
    return { name: headBranch, type: null, sha, pullRequest: pullRequest ?? Number(pull[1]) };
  return { name: headBranch, type: "branch", sha, pullRequest };
}

export function firstPullRequest(source: JsonObject): number | null {
  return optInt(firstOf(source, "pull_requests"), "number");
}

/** Milliseconds between two contract times; null when either is absent or the order is reversed. */
export function durationBetween(start: string | null, end: string | null): number | null {
  if (start === null || end === null) return null;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : null;
}

export function requireSection(payload: JsonObject, key: string): JsonObject {
  return requireObject(field(payload, key), key);
}

/** Attempts start at 1; older payloads have no run_attempt at all. */
export function attempt(value: number | null): number {
  return value !== null && value >= 1 ? value : 1;
}

export { finalize } from "../finalize.ts";

/**
 * A checks-API object's state (workflow run or job, check suite or run): phase and normalized
 * status from `status` and `conclusion` — never from the webhook's `action` — and the raw value.
 */
export function readChecksState(
  section: JsonObject,
  name: string,
): { phase: Phase; status: Status; providerStatus: string } {
  const status = nullableString(section, "status", name);
  const conclusion = nullableString(section, "conclusion", name);
  return { ...checksOutcome(status, conclusion), providerStatus: conclusion ?? status ?? "" };
}
