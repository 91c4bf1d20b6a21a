import type { Provider } from "../events/schema.ts";

/**
 * KV keys may only hold [-/_=.a-zA-Z0-9] and use `.` as the token separator, while
 * repository paths (nested groups), branch and pipeline names may hold anything. Every
 * name is therefore one base64url token: reversible, so two different names never share a
 * key. The empty string gets `_`, which base64url never produces on its own.
 */
export function encodeToken(name: string): string {
  return name === "" ? "_" : Buffer.from(name, "utf8").toString("base64url");
}

export function decodeToken(token: string): string {
  return token === "_" ? "" : Buffer.from(token, "base64url").toString("utf8");
}

export const RUN_PREFIX = "run";
export const BRANCH_PREFIX = "branch";

/** run.<provider>.<repository id>.<run id>: one run with its jobs. */
export function runStoreKey(provider: Provider, repositoryId: string, runId: string): string {
  return [RUN_PREFIX, provider, encodeToken(repositoryId), encodeToken(runId)].join(".");
}

/** Every stored run of a provider with this run id, whatever its repository. */
export function runIdFilter(provider: Provider, runId: string): string {
  return [RUN_PREFIX, provider, "*", encodeToken(runId)].join(".");
}

/** branch.<provider>.<repository>.<branch>.<pipeline>: the recent runs of one pipeline on one branch. */
export function branchStoreKey(
  provider: Provider,
  repository: string,
  branch: string,
  pipeline: string,
): string {
  return [BRANCH_PREFIX, provider, encodeToken(repository), encodeToken(branch), encodeToken(pipeline)].join(
    ".",
  );
}

export const BRANCH_WATCH_FILTER = `${BRANCH_PREFIX}.>`;

/**
 * How the view and the queries find a repository: GitHub and GitLab take a path in any case
 * (github.com/octo-org/hello-world is Octo-Org/Hello-World), so a badge typed from memory works.
 * Branch names stay as git spells them.
 */
export const repositoryKey = (fullName: string | undefined): string | undefined => fullName?.toLowerCase();
