import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestGateway } from "../helpers/gateway.ts";
import { closeNotifyStack, settledNotices, startNotifyStack } from "../helpers/notify-stack.ts";
import { eventually } from "../helpers/poll.ts";
import type { SlackCall, SlackServer } from "../helpers/slack-server.ts";
import type { SinkMail, SmtpSink } from "../helpers/smtp-sink.ts";
import { workflowJob, workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

/**
 * GitHub Actions jobs of one run attempt that share a display name (two job ids with `name:
 * Lint`, or a `name:` expression that evaluates alike): each is its own job, since Actions
 * retries a job only as a new run attempt; and the jobs that an attempt re-running some jobs
 * left alone, which keep their results. Each case runs on its own branch (its own lane,
 * channel and mail) with its own run and job ids.
 */
const CASES = ["twins", "rerun"] as const;
type Case = (typeof CASES)[number];
const channelOf = (name: Case): string => `C${name.toUpperCase()}`;

let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  ({ slack, smtp, gateway } = await startNotifyStack({
    routes: CASES.map((name) => ({
      name,
      match: { providers: ["github"], branches: [name], kinds: ["pipeline"] },
      on: ["failed", "still_failing", "fixed"],
      slack: { channel: channelOf(name), threadFailures: true },
      email: { to: [`${name}@example.com`] },
    })),
    notify: { slack: { minInterval: 200 }, email: { delay: 300 }, delivery: { backoff: 200 } },
  }));
});

after(() => closeNotifyStack({ slack, smtp, gateway }));

const iso = (seconds: number): string =>
  new Date(Date.UTC(2026, 0, 1) + seconds * 1000).toISOString().replace(".000", "");

interface JobSpec {
  readonly id: number;
  readonly name: string;
  readonly conclusion: "success" | "failure";
  /** seconds after the run's epoch */
  readonly start: number;
  readonly end: number;
  readonly attempt?: number;
}

/** A real workflow_job payload, completed, with its own name, times and job page. */
function job(name: Case, runId: number, spec: JobSpec): string {
  const attempt = spec.attempt ?? 1;
  const payload = JSON.parse(
    workflowJob(runId, spec.id, {
      status: "completed",
      conclusion: spec.conclusion,
      at: spec.end,
      attempt,
      branch: name,
    }),
  ) as { workflow_job: Record<string, unknown> };
  Object.assign(payload.workflow_job, {
    name: spec.name,
    created_at: iso(spec.start),
    started_at: iso(spec.start),
    html_url: `https://github.com/octo-org/octo-repo/actions/runs/${runId}/job/${spec.id}`,
  });
  return JSON.stringify(payload);
}

async function post(event: string, body: string): Promise<void> {
  assert.equal((await postGithub(gateway.url, event, body)).status, 202);
}

const callsIn = (name: Case): SlackCall[] =>
  slack.accepted().filter((call) => call.args["channel"] === channelOf(name));

/** Waits for the case's failure message, its mail, then for quiet. */
const notices = (name: Case): Promise<{ calls: SlackCall[]; mail: SinkMail }> =>
  settledNotices(
    { slack, smtp },
    {
      name,
      channel: channelOf(name),
      address: `${name}@example.com`,
      messages: 1,
    },
  );

interface RunAnswer {
  readonly failedJobs?: readonly { id: string; name: string }[];
  readonly jobs?: readonly { id: string; retried: boolean }[];
}

async function runDetail(runId: number, jobs: number, attempt = 1): Promise<RunAnswer> {
  return eventually(async () => {
    const response = await fetch(`${gateway.url}/api/v1/runs/github/${runId}`);
    const body = (await response.json()) as RunAnswer & { status?: string; attempt?: number };
    return body.attempt === attempt && body.status === "failure" && body.jobs?.length === jobs
      ? body
      : undefined;
  }, `run ${runId} finished with its ${jobs} jobs`);
}

describe("GitHub Actions jobs that share a name, within an attempt and across attempts", () => {
  it("a failed Lint beside a passing Lint is listed by the notices and the API", async () => {
    const runId = 7001;
    await post("workflow_run", workflowRun({ runId, status: "in_progress", at: 1, branch: "twins" }));
    // lint.yml's two jobs `eslint:` and `prettier:`, both `name: Lint`; the passing one
    // started later and finished last
    await post(
      "workflow_job",
      job("twins", runId, { id: 101, name: "Lint", conclusion: "failure", start: 2, end: 20 }),
    );
    await post(
      "workflow_job",
      job("twins", runId, { id: 102, name: "Lint", conclusion: "success", start: 3, end: 30 }),
    );
    await post(
      "workflow_job",
      job("twins", runId, { id: 103, name: "Test", conclusion: "success", start: 2, end: 25 }),
    );
    await post(
      "workflow_run",
      workflowRun({ runId, status: "completed", conclusion: "failure", at: 40, branch: "twins" }),
    );

    const { calls, mail } = await notices("twins");
    const [message, reply] = calls;
    const failedLink = `actions/runs/${runId}/job/101`;
    assert.match(JSON.stringify(message?.args["blocks"]), /\*Failed jobs\*\\n1 of 3/);
    assert.ok(
      JSON.stringify(message?.args["blocks"]).includes(failedLink),
      "the message links the failed Lint",
    );
    assert.ok(reply && "thread_ts" in reply.args, "a thread reply lists the failed jobs");
    assert.ok(JSON.stringify(reply.args["blocks"]).includes(failedLink));
    assert.match(mail.parsed.text ?? "", /Failed jobs:\s+.*Lint/);
    assert.ok((mail.parsed.text ?? "").includes(failedLink), "the mail links the failed Lint");

    const detail = await runDetail(runId, 3);
    assert.deepEqual(
      detail.failedJobs?.map((failed) => [failed.id, failed.name]),
      [["101", "Lint"]],
    );
    assert.deepEqual(
      detail.jobs?.filter((listed) => listed.retried).map((listed) => listed.id),
      [],
      "no job of the attempt is another's retry",
    );
    const runs = await fetch(`${gateway.url}/api/v1/runs?repository=octo-org/octo-repo&branch=twins`);
    const list = (await runs.json()) as { runs: { runId: string; failedJobs: { id: string }[] }[] };
    assert.deepEqual(
      list.runs.find((run) => run.runId === String(runId))?.failedJobs.map((failed) => failed.id),
      ["101"],
      "the branch's run list (dashboard, badges) agrees",
    );
  });

  it("a re-run of one job keeps the jobs it did not re-run: their failures are still listed", async () => {
    const runId = 7002;
    const id = (n: number) => runId * 1000 + n;
    const failed = async (attempt: number, at: number) =>
      post(
        "workflow_run",
        workflowRun({ runId, status: "completed", conclusion: "failure", at, attempt, branch: "rerun" }),
      );
    await post("workflow_run", workflowRun({ runId, status: "in_progress", at: 1, branch: "rerun" }));
    await post(
      "workflow_job",
      job("rerun", runId, { id: id(1), name: "Lint", conclusion: "failure", start: 2, end: 20 }),
    );
    await post(
      "workflow_job",
      job("rerun", runId, { id: id(2), name: "Test", conclusion: "failure", start: 2, end: 25 }),
    );
    await post(
      "workflow_job",
      job("rerun", runId, { id: id(3), name: "Build", conclusion: "success", start: 2, end: 22 }),
    );
    await failed(1, 40);
    await eventually(() => callsIn("rerun").length >= 2, "the failure message and its thread reply");

    // "Re-run job" on Lint: attempt 2 runs Lint alone, which passes; Test keeps its failure
    // (GitHub sends no event for it again) and the attempt fails
    await post(
      "workflow_run",
      workflowRun({ runId, status: "in_progress", at: 100, attempt: 2, branch: "rerun" }),
    );
    await post(
      "workflow_job",
      job("rerun", runId, {
        id: id(4),
        name: "Lint",
        conclusion: "success",
        start: 101,
        end: 120,
        attempt: 2,
      }),
    );
    await failed(2, 140);
    const detail = await runDetail(runId, 3, 2);
    assert.deepEqual(
      detail.failedJobs?.map((listed) => [listed.id, listed.name]),
      [[String(id(2)), "Test"]],
    );
    const { calls } = await notices("rerun");
    const last = calls.filter((call) => !("thread_ts" in call.args)).at(-1);
    assert.match(String(last?.args["text"]), /^Failed: /);
    const blocks = JSON.stringify(last?.args["blocks"]);
    assert.match(blocks, /\*Failed jobs\*\\n1 of 3/);
    assert.ok(blocks.includes(`job/${id(2)}`), "the message still links the failed Test");
    assert.ok(!blocks.includes(`job/${id(1)}`), "and no longer attempt 1's Lint");
  });
});
