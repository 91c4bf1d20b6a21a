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
