import { gitlabSequence } from "../events/ref-status.ts";
import { runKey } from "../events/ids.ts";
import type { BuildEventData, Status } from "../events/schema.ts";

/**
 * What a notice is about. A pipeline event's entity is its run; a job or deployment event
 * has its own entity (for routes with kinds [job] or [deployment]) and also feeds its run's
 * job list. The lane is the stream of entities whose outcomes form transitions:
 * (provider, kind, repository, branch, name).
 */
export interface Entity {
  readonly key: string;
  readonly laneId: string;
  /**
   * The lane this entity was on before lanes followed GitHub workflows by id (or deployments
   * of a tag by environment): its state seeds the new lane once, so an upgrade neither
   * repeats `failed` nor misses `fixed`.
   */
  readonly legacyLaneId?: string;
  /**
   * A deployment of a branch: its environment's lane, where the deployments of tags and
   * commits are decided. Each follows the other's latest (a tag after `main` failed is `fixed`).
   */
  readonly environmentLaneId?: string;
  readonly attempt: number;
  readonly order: RunOrder;
  /** the provider's update time of this state (ms), to tell a re-run in place from a late event */
  readonly updatedMs: number | null;
  /** the commit built; null when the provider sent none */
  readonly sha: string | null;
  /** a GitHub Actions run's workflow id: its lane's runs are that workflow's alone */
  readonly workflow?: string;
}

/** Runs of one lane are ordered by their number when both have one, else by creation time. */
export interface RunOrder {
  readonly number: number | null;
  readonly createdMs: number | null;
}

export type Outcome = "success" | "failure" | "canceled";

/** Finished statuses that count; skipped, action_required, manual and the like never notify. */
export function outcomeOf(status: Status): Outcome | null {
  switch (status) {
    case "success":
    case "neutral":
      return "success";
    case "failure":
    case "timed_out":
      return "failure";
    case "canceled":
      return "canceled";
    default:
      return null;
  }
}

export function entityName(data: BuildEventData): string {
  if (data.kind === "job") return `${data.run.name} / ${data.job?.name ?? ""}`;
  if (data.kind === "deployment") return `deploy to ${data.deployment?.environment ?? ""}`;
  return data.run.name;
}

/**
 * What a lane follows within its repository and branch. GitHub: the workflow (or app, or
 * status context) by name, a job within it, a deployment's environment. GitLab judges a ref's
 * pipelines as one sequence whatever their names (its "fixed pipeline" mail follows the ref's
 * status), and a `workflow:name` may change with every run (`$CI_COMMIT_TITLE`): so GitLab
 * pipelines are followed by where they come from, not by name. A branch's own builds (a push,
 * a run from the UI or the API, a trigger) are one lane; scheduled pipelines, merge request
 * pipelines and each source GitLab keeps out of a ref's status (a child pipeline: its parent
 * carries it) have a lane each, so a nightly's failure is news after a green push, and a
 * child's success never "fixes" its parent. GitLab jobs are followed by their name. A GitHub
 * Actions workflow is followed by its id: two workflow files may share a `name:` (their run
 * numbers are counted apart, so one's runs would look older than the other's), and a renamed
 * workflow is still the one that was failing.
 */
function laneNameOf(data: BuildEventData): string {
  if (data.kind === "deployment") return data.deployment?.environment ?? "";
  if (data.kind === "pipeline" && data.run.workflowId !== undefined) return `workflow:${data.run.workflowId}`;
  if (data.provider !== "gitlab") return entityName(data);
  if (data.kind === "job") return `/ ${data.job?.name ?? ""}`;
  return gitlabSequence(data.run.trigger);
}

/** The ref a lane is on: the branch or tag, else the pull or merge request (each its own). */
const laneRef = (ref: BuildEventData["ref"]): string =>
  ref.name ?? (ref.pullRequest === null ? "" : `!${ref.pullRequest}`);

/**
 * `v2`, `v1.2`, `1.0.0`, `v2.0.0-rc.1`, `2026.12.01`: a version, which names a tag, not a
 * branch. A number alone or before a dash is a branch: GitLab names an issue's branch
 * `123-fix-login`, and maintenance branches are often `1.x`.
 */
const VERSION_REF = /^(v\d+(\.\d+)*|\d+(\.\d+)+)([-+][0-9A-Za-z.-]+)?$/;

/**
 * What a deployment's ref names: a branch, a tag, or (null) a commit. Neither provider says
 * (GitHub's may be any of them, GitLab names its pipeline's branch or tag): `refs/tags/…`
 * and a version (`v1.2.3`) are taken for tags, the commit's sha (or its prefix) for the
 * commit, anything else for a branch.
 */
export function deployedRefType(ref: BuildEventData["ref"]): "branch" | "tag" | null {
  const name = ref.name;
  if (ref.type === "tag") return "tag";
  if (name === null) return null;
  if (/^[0-9a-f]{7,64}$/i.test(name) && ref.sha.toLowerCase().startsWith(name.toLowerCase())) return null;
  return VERSION_REF.test(name) ? "tag" : "branch";
}

/** Whether a deployment's ref names a branch (deployedRefType). */
export const deploysBranch = (ref: BuildEventData["ref"]): boolean => deployedRefType(ref) === "branch";

/**
 * The ref a deployment's lane is on. An environment is one thing whatever was deployed to it
 * (GitHub's and GitLab's environment pages show its latest deployment, whatever the ref): a
 * deployment of a tag or a commit follows its environment's previous deployment, so a release
 * `v1.0.1` that succeeds after `v1.0` failed is `fixed`. A deployment of a branch follows the
 * branch's previous deployments to that environment: one environment may hold a preview of
 * each branch (Vercel's "Preview"), whose outcomes say nothing of each other.
 */
const deploymentLaneRef = (ref: BuildEventData["ref"]): string => (deploysBranch(ref) ? laneRef(ref) : "");

/**
 * A run's number; a deployment's id, which both providers count up. A GitLab deployment hook
 * names no creation time, only when its status changed, and a deploy job that failed before
 * it ran (stuck without a runner, timed out hours later) sends no hook before its failure:
 * without its id, that older deployment's failure would pass for the environment's newest.
 */
function orderNumber(data: BuildEventData): number | null {
  if (data.kind !== "deployment") return data.run.number;
  const id = Number(data.deployment?.id);
  return Number.isSafeInteger(id) ? id : null;
}

export function entityOf(data: BuildEventData): Entity {
  const run = runKey(data);
  const key =
    data.kind === "job"
      ? `${run}/job/${data.job?.id ?? ""}`
      : data.kind === "deployment"
        ? `${run}/deployment/${data.deployment?.id ?? ""}`
        : run;
  const laneIdOf = (laneName: string, ref = laneRef(data.ref)): string =>
    [data.provider, data.kind, data.repository.fullName, ref, laneName].join("\u0000");
  const laneId =
    data.kind === "deployment"
      ? laneIdOf(laneNameOf(data), deploymentLaneRef(data.ref))
      : laneIdOf(laneNameOf(data));
  // GitHub workflows were followed by name before they were followed by id, and deployments of
  // a tag by environment and tag before they were followed by environment
  const legacyLaneId =
    data.run.workflowId !== undefined
      ? laneIdOf(entityName(data))
      : data.kind === "deployment"
        ? laneIdOf(laneNameOf(data))
        : laneId;
  const environmentLaneId = data.kind === "deployment" ? laneIdOf(laneNameOf(data), "") : laneId;
  const created = data.createdAt ?? data.startedAt;
  const updated = data.updatedAt ?? data.finishedAt;
  return {
    key,
    laneId,
    ...(legacyLaneId === laneId ? {} : { legacyLaneId }),
    ...(environmentLaneId === laneId ? {} : { environmentLaneId }),
    attempt: data.run.attempt,
    order: { number: orderNumber(data), createdMs: created === null ? null : Date.parse(created) },
    updatedMs: updated === null ? null : Date.parse(updated),
    sha: data.ref.sha === "" ? null : data.ref.sha,
    ...(data.kind === "pipeline" && data.run.workflowId !== undefined
      ? { workflow: data.run.workflowId }
      : {}),
  };
}

/** Negative when `a` is an older run than `b`; 0 when they cannot be told apart. */
export function compareOrder(a: RunOrder, b: RunOrder): number {
  if (a.number !== null && b.number !== null && a.number !== b.number) return a.number - b.number;
  if (a.createdMs !== null && b.createdMs !== null) return a.createdMs - b.createdMs;
  return 0;
}
