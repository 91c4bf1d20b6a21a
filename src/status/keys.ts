import { createHash } from "node:crypto";
import type { Provider } from "../events/schema.ts";

/**
 * The longest token spelled out in a key. A KV get or put names its key in the subject, and
 * NATS closes the connection of a client whose protocol line passes its max_control_line (4 KB
 * by default): the store's retries of one event whose pipeline name or run id runs to a few
 * thousand characters (a fork's pull request sets its workflow's `name:`, an external CI its
 * status context, which is part of the run id) would drop the gateway's connection again and
 * again. Four tokens of this length and the bucket's name stay under it.
 */
export const MAX_TOKEN = 700;

/** A token too long to spell out: `=` (never in base64url) and a hash of the name. */
const HASHED_TOKEN = /^=[0-9a-f]{40}$/;

/**
 * KV keys may only hold [-/_=.a-zA-Z0-9] and use `.` as the token separator, while
 * repository paths (nested groups), branch and pipeline names may hold anything. Every
 * name is therefore one base64url token: reversible, so two different names never share a
 * key. The empty string gets `_`, which base64url never produces on its own. A name whose
 * token would pass MAX_TOKEN gets `=` and its SHA-256 (40 hex digits) instead, which
 * decodeToken cannot turn back into the name (the names are in the stored values).
 */
export function encodeToken(name: string): string {
  if (name === "") return "_";
  const token = Buffer.from(name, "utf8").toString("base64url");
  if (token.length <= MAX_TOKEN) return token;
  return `=${createHash("sha256").update(name, "utf8").digest("hex").slice(0, 40)}`;
}

/** The name a token spells; null for a name too long to spell out (see encodeToken). */
export function decodeToken(token: string): string | null {
  if (HASHED_TOKEN.test(token)) return null;
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

/**
 * The longest key an earlier release may have spelled out whole and NATS taken (its subject,
 * with the bucket's and the API's prefixes and a reply inbox, under the 4 KB control line).
 */
const LEGACY_KEY_MAX = 3_700;

/**
 * Where releases before names were hashed kept the branch list that branchStoreKey now names
 * by a hash: every token spelled out. Null when no name is hashed, or when the key is too long
 * for an earlier release to have written it (or for a client to name it in a subject).
 */
export function legacyBranchStoreKey(
  provider: Provider,
  repository: string,
  branch: string,
  pipeline: string,
): string | null {
  const spelled = (name: string) => (name === "" ? "_" : Buffer.from(name, "utf8").toString("base64url"));
  const key = [BRANCH_PREFIX, provider, spelled(repository), spelled(branch), spelled(pipeline)].join(".");
  return key.length > LEGACY_KEY_MAX || key === branchStoreKey(provider, repository, branch, pipeline)
    ? null
    : key;
}

export const BRANCH_WATCH_FILTER = `${BRANCH_PREFIX}.>`;

/**
 * How the view and the queries find a repository: GitHub and GitLab take a path in any case
 * (github.com/octo-org/hello-world is Octo-Org/Hello-World), so a badge typed from memory works.
 * Branch names stay as git spells them.
 */
export const repositoryKey = (fullName: string | undefined): string | undefined => fullName?.toLowerCase();
