import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestGateway } from "../helpers/gateway.ts";
import { closeNotifyStack, settledNotices, startNotifyStack } from "../helpers/notify-stack.ts";
import { eventually } from "../helpers/poll.ts";
import type { SlackCall, SlackServer } from "../helpers/slack-server.ts";
import type { SinkMail, SmtpSink } from "../helpers/smtp-sink.ts";
import { postGitlab, readFixture } from "../helpers/webhooks.ts";

/**
 * A failing GitLab pipeline told by its pipeline hook alone, and by its pipeline hook with
 * its failing job's hooks before or after it: the notices list the failed job every time,
 * with the same Slack calls. Each case runs on its own branch (its own lane, channel and
 * mail) with its own pipeline and job ids, so JetStream does not take one case's events for
 * another's.
 */
const CASES = ["alone", "jobs-first", "jobs-last", "retried"] as const;
type Case = (typeof CASES)[number];
const channelOf = (name: Case): string => `C${name.toUpperCase().replace("-", "")}`;

let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  ({ slack, smtp, gateway } = await startNotifyStack({
    routes: CASES.map((name) => ({
      name,
      match: { providers: ["gitlab"], branches: [name], kinds: ["pipeline"] },
      on: ["failed"],
      slack: { channel: channelOf(name), threadFailures: true },
      email: { to: [`${name}@example.com`] },
    })),
    notify: {
      slack: { minInterval: 200 },
      email: { delay: 300 },
      delivery: { backoff: 200 },
    },
  }));
});

after(() => closeNotifyStack({ slack, smtp, gateway }));

type Json = Record<string, unknown>;

/** The ids of one case: the real pipeline 53479's, moved so that no two cases share one. */
function idsOf(name: Case): { pipeline: number; offset: number } {
  const index = CASES.indexOf(name);
  return { pipeline: 53479 + index * 1000, offset: index * 1000 };
}

/**
 * The real pipeline hook of pipeline 53479 (GitLab 16.11, gitlab.com), failed rather than
 * being canceled: its job ktlint failed.
 */
function failedPipeline(name: Case, extraBuilds: readonly Json[] = []): string {
  const payload = JSON.parse(readFixture("gitlab/pipeline.nuecagram-real.failed.json")) as {
    object_attributes: Json;
    builds: Json[];
  };
  payload.builds.push(...extraBuilds);
  const { pipeline, offset } = idsOf(name);
  Object.assign(payload.object_attributes, { id: pipeline, ref: name, detailed_status: "failed" });
  delete payload.object_attributes["url"];
  for (const build of payload.builds) {
    build["id"] = Number(build["id"]) + offset;
    if (build["name"] === "ktlint")
      Object.assign(build, { status: "failed", failure_reason: "script_failure" });
  }
  return JSON.stringify(payload);
}

/** ktlint's job hook in that state: a real job hook of the same pipeline, telling ktlint. */
function ktlintHook(name: Case, status: "running" | "failed"): string {
  const payload = JSON.parse(readFixture("gitlab/job.nuecagram-real.canceled.json")) as Json & {
    commit: Json;
  };
  const pipeline = JSON.parse(failedPipeline(name)) as { builds: Json[] };
  const ktlint = pipeline.builds.find((build) => build["name"] === "ktlint")!;
  const failed = status === "failed";
  Object.assign(payload, {
    ref: name,
    retries_count: 0,
    build_id: ktlint["id"],
    build_name: "ktlint",
    build_stage: "test",
    build_status: status,
    build_created_at: ktlint["created_at"],
    build_started_at: ktlint["started_at"],
    build_finished_at: failed ? ktlint["finished_at"] : null,
    build_duration: failed ? ktlint["duration"] : 12.5,
    build_allow_failure: false,
    build_failure_reason: failed ? "script_failure" : null,
    pipeline_id: idsOf(name).pipeline,
    runner: ktlint["runner"],
  });
  payload.commit["id"] = idsOf(name).pipeline;
  return JSON.stringify(payload);
}

async function post(event: string, body: string): Promise<void> {
  assert.equal((await postGitlab(gateway.url, event, body)).status, 202);
}

const callsIn = (name: Case): SlackCall[] =>
  slack.accepted().filter((call) => call.args["channel"] === channelOf(name));

/** Waits for the case's failure message and its thread reply, its mail, then for quiet. */
const notices = (name: Case): Promise<{ calls: SlackCall[]; mail: SinkMail }> =>
  settledNotices(
    { slack, smtp },
    {
      name,
      channel: channelOf(name),
      address: `${name}@example.com`,
      messages: 2,
    },
  );

/** What a case's Slack calls and mail said, without what differs between cases by design. */
function said({ calls, mail }: { calls: SlackCall[]; mail: SinkMail }, name: Case): unknown {
  const { pipeline } = idsOf(name);
  const text = (value: unknown): string =>
    JSON.stringify(value)
      .replaceAll(`/${pipeline}`, "/<pipeline>")
      .replaceAll(/jobs\/\d+/g, "jobs/<job>")
      .replaceAll(name, "<branch>");
  return {
    slack: calls.map((call) => ({
      method: call.method,
      thread: "thread_ts" in call.args,
      blocks: text(call.args["blocks"]),
    })),
    subject: text(mail.parsed.subject),
    mail: text(mail.parsed.text),
  };
}

void describe("a failing GitLab pipeline's failed jobs, from its pipeline hook", () => {
  const seen = new Map<Case, unknown>();

  void it("its hook alone gives a Slack message and a mail that list the failed job", async () => {
    await post("Pipeline Hook", failedPipeline("alone"));
    const found = await notices("alone");
    const [message, reply] = found.calls;
    assert.match(JSON.stringify(message?.args["blocks"]), /\*Failed jobs\*\\n1 of 5/);
    assert.match(JSON.stringify(message?.args["blocks"]), /ktlint/);
    assert.match(JSON.stringify(reply?.args["blocks"]), /ktlint/);
    assert.match(found.mail.parsed.text ?? "", /Failed jobs:\s+.*ktlint/);
    seen.set("alone", said(found, "alone"));

    // the dashboard's run detail lists it too
    const detail = await eventually(async () => {
      const response = await fetch(`${gateway.url}/api/v1/runs/gitlab/${idsOf("alone").pipeline}`);
      const body = (await response.json()) as { jobs?: { name: string; status: string }[] };
      return body.jobs?.length === 5 ? body : undefined;
    }, "the run's jobs");
    assert.deepEqual(
      detail.jobs?.filter((job) => job.status === "failure").map((job) => job.name),
      ["ktlint"],
    );
  });

  void it("the job hooks before it change nothing the notices say, nor how often Slack is called", async () => {
    await post("Job Hook", ktlintHook("jobs-first", "running"));
    await post("Job Hook", ktlintHook("jobs-first", "failed"));
    await post("Pipeline Hook", failedPipeline("jobs-first"));
    assert.deepEqual(said(await notices("jobs-first"), "jobs-first"), seen.get("alone"));
  });

  void it("nor do the job hooks after it", async () => {
    await post("Pipeline Hook", failedPipeline("jobs-last"));
    await eventually(() => callsIn("jobs-last").length >= 2, "the message and its thread reply");
    await post("Job Hook", ktlintHook("jobs-last", "running"));
    await post("Job Hook", ktlintHook("jobs-last", "failed"));
    assert.deepEqual(said(await notices("jobs-last"), "jobs-last"), seen.get("alone"));
  });

  void it("a retried job counts by its newest try, as GitLab counts it", async () => {
    // Older GitLab versions list retried builds too: here the first try of `prepare` (the
    // real job hook's job 480899, which was retried as 481131), failing.
    const firstTry = JSON.parse(readFixture("gitlab/job.nuecagram-real.canceled.json")) as Json;
    const retried = {
      id: firstTry["build_id"],
      stage: firstTry["build_stage"],
      name: firstTry["build_name"],
      status: "failed",
      created_at: firstTry["build_created_at"],
      started_at: firstTry["build_started_at"],
      finished_at: firstTry["build_finished_at"],
      duration: firstTry["build_duration"],
      allow_failure: false,
      user: firstTry["user"],
      runner: firstTry["runner"],
    };
    await post("Pipeline Hook", failedPipeline("retried", [retried]));
    assert.deepEqual(said(await notices("retried"), "retried"), seen.get("alone"));
  });
});
