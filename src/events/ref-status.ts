import type { Provider } from "./schema.ts";

/**
 * GitLab's pipeline sources that do not set their ref's status (`dangling_sources` in
 * GitLab's `Enums::Ci::Pipeline`): "a child pipeline affects its parent pipeline. It's up to
 * the parent to affect the ref CI status"; Web IDE, on-demand DAST and policy pipelines run
 * on a ref without being its build.
 */
const GITLAB_DANGLING_SOURCES: ReadonlySet<string> = new Set([
  "parent_pipeline",
  "webide",
  "ondemand_dast_scan",
  "ondemand_dast_validation",
  "security_orchestration_policy",
  "container_registry_push",
  "duo_workflow",
  "pipeline_execution_policy_schedule",
]);

/** Whether a run with this trigger is a build of its ref: false for GitLab's child pipelines and the like. */
export function buildsItsRef(provider: Provider, trigger: string | null): boolean {
  return !(provider === "gitlab" && trigger !== null && GITLAB_DANGLING_SOURCES.has(trigger));
}

/**
 * Which of a GitLab ref's pipeline sequences a pipeline belongs to: the branch's own builds
 * (push, a run from the UI or the API, a trigger: ""), scheduled ones, merge request ones, or
 * one per source that is not the ref's build (a child pipeline). Pipeline names do not tell
 * them apart: a `workflow:name` may change with every run.
 */
export function gitlabSequence(trigger: string | null): string {
  if (trigger === "schedule" || trigger === "merge_request_event") return trigger;
  return buildsItsRef("gitlab", trigger) ? "" : (trigger ?? "");
}
