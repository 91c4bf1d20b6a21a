import assert from "node:assert/strict";
import type { BuildEvent } from "../../src/events/schema.ts";
import { normalizeGithub } from "../../src/normalize/github.ts";
import { readFixture } from "./webhooks.ts";

export interface WorkflowRunSpec {
  readonly repository: string;
  /** null: a payload without `workflow_id`, as events published before it was read */
  readonly workflowId: number | null;
  readonly name: string;
  readonly number: number;
  readonly conclusion: "success" | "failure";
  /** the day of December 2024 the run was created on (its commit is the day's), and the minute */
  readonly day: number;
  readonly minute: number;
}

/** A completed workflow_run webhook of a repository's main, from a real payload, normalized as ingress does. */
export function workflowRunEvent(run: WorkflowRunSpec): BuildEvent {
  const payload = JSON.parse(readFixture("github/workflow_run.completed.2.json")) as {
    repository: Record<string, unknown>;
    workflow: Record<string, unknown>;
    workflow_run: Record<string, unknown>;
  };
  const at = (second: number) =>
    `2024-12-${String(run.day).padStart(2, "0")}T10:${String(run.minute).padStart(2, "0")}:${second}Z`;
  payload.repository = { ...payload.repository, full_name: run.repository };
  payload.workflow = { ...payload.workflow, id: run.workflowId, name: run.name };
  const workflowRun = payload.workflow_run;
  if (run.workflowId === null) delete workflowRun.workflow_id;
  else workflowRun.workflow_id = run.workflowId;
  Object.assign(workflowRun, {
    id: run.workflowId === null ? 9000 + run.number : run.workflowId * 1000 + run.number,
    name: run.name,
    run_number: run.number,
    head_branch: "main",
    head_sha: String(run.day).padStart(2, "0").repeat(20),
    event: "push",
    status: "completed",
    conclusion: run.conclusion,
    created_at: at(10),
    run_started_at: at(10),
    updated_at: at(50),
  });
  const result = normalizeGithub({ event: "workflow_run", payload, deliveryId: `d-${run.number}` });
  assert.ok(result.handled);
  const [event] = result.events;
  assert.ok(event);
  return event;
}

/**
 * One commit status of `ci/circleci: test` on the head of main (sha a…a), `second`s after
 * 10:00 on 2026-12-01, from a real payload, normalized as ingress does: each status an
 * external CI posts is a new object with its own time.
 */
export function commitStatusEvent(
  state: "pending" | "success" | "failure" | "error",
  second: number,
): BuildEvent {
  const base = JSON.parse(readFixture("github/status.ex.1.json")) as Record<string, unknown>;
  const sha = "a".repeat(40);
  const at = new Date(Date.UTC(2026, 11, 1, 10, 0, second)).toISOString();
  const payload = {
    ...base,
    id: 1000 + second,
    sha,
    context: "ci/circleci: test",
    state,
    created_at: at,
    updated_at: at,
    target_url: `https://circleci.com/gh/acme/api/${second}`,
    branches: [{ name: "main", commit: { sha, url: "" }, protected: false }],
  };
  const result = normalizeGithub({ event: "status", deliveryId: null, payload });
  assert.ok(result.handled);
  const [event] = result.events;
  assert.ok(event);
  return event;
}

const deploymentFixture = JSON.parse(readFixture("github/deployment_status.created.1.json")) as {
  deployment: Record<string, unknown>;
  deployment_status: Record<string, unknown>;
};

/**
 * A GitHub deployment of `ref` (a branch, a tag or a sha) to `environment`, from a real
 * deployment_status payload, normalized as ingress does: its status `state` at minute `minute`
 * (by default the deployment's `id`), its commit `id`'s digits repeated.
 */
export function deploymentEvent(
  id: number,
  ref: string,
  state: string,
  environment = "production",
  minute = id,
): BuildEvent {
  const time = `2026-12-01T10:${String(minute).padStart(2, "0")}:00Z`;
  const sha = `${id}`.repeat(40).slice(0, 40);
  const result = normalizeGithub({
    event: "deployment_status",
    deliveryId: null,
    payload: {
      ...deploymentFixture,
      deployment: {
        ...deploymentFixture.deployment,
        id,
        ref,
        sha,
        environment,
        created_at: time,
        updated_at: time,
      },
      deployment_status: {
        ...deploymentFixture.deployment_status,
        id: 100 + minute,
        state,
        environment,
        updated_at: time,
      },
    },
  });
  assert.ok(result.handled);
  return result.events[0] as BuildEvent;
}

/**
 * A completed check run `id` named `randscape` of another app's check suite 5 (the real
 * re-requested check run of GitHub's example), normalized as ingress does: it started at
 * `startMinute` past 01:00 on 2018-05-04 and finished a minute later. A re-requested check
 * run is a new check run of the same name in the same suite.
 */
export function checkRunEvent(
  id: number,
  conclusion: "success" | "failure",
  startMinute: number,
): BuildEvent {
  const payload = JSON.parse(readFixture("github/check_run.rerequested.1.json")) as {
    check_run: Record<string, unknown>;
  };
  const at = (minute: number) => `2018-05-04T01:${String(minute).padStart(2, "0")}:00Z`;
  Object.assign(payload.check_run, {
    id,
    html_url: `http://github.com/github/hello-world/runs/${id}`,
    status: "completed",
    conclusion,
    started_at: at(startMinute),
    completed_at: at(startMinute + 1),
  });
  const result = normalizeGithub({ event: "check_run", payload, deliveryId: null });
  assert.ok(result.handled);
  const [event] = result.events;
  assert.ok(event);
  return event;
}
