import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestGateway } from "../helpers/gateway.ts";
import { closeNotifyStack, startNotifyStack } from "../helpers/notify-stack.ts";
import { eventually, sleep } from "../helpers/notify-harness.ts";
import type { SlackServer } from "../helpers/slack-server.ts";
import type { SmtpSink } from "../helpers/smtp-sink.ts";
import { postGitlab, readFixture } from "../helpers/webhooks.ts";

let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  ({ slack, smtp, gateway } = await startNotifyStack({
    routes: [
      {
        name: "customer-app",
        match: { repositories: ["android-team/*"], branches: ["main"], providers: ["gitlab"] },
        on: ["failed", "still_failing", "fixed"],
        slack: { channel: "CANDROID" },
        email: { to: ["android@example.com"] },
      },
    ],
    notify: { slack: { minInterval: 200 }, delivery: { backoff: 200 } },
  }));
});

after(() => closeNotifyStack({ slack, smtp, gateway }));

const pipeline = (name: string) => readFixture(`gitlab/pipeline.nuecagram-real.${name}.json`);

/**
 * The real capture "failed" was sent while the pipeline was being canceled (detailed_status
 * canceled), which buildcast reads as canceled: this is the same pipeline failing outright.
 */
function failedPipeline(): string {
  const payload = JSON.parse(pipeline("failed")) as { object_attributes: Record<string, unknown> };
  payload.object_attributes.detailed_status = "failed";
  return JSON.stringify(payload);
}

/** The failed pipeline's next run, green: a later pipeline id, iid and times. */
function nextGreenPipeline(): string {
  const payload = JSON.parse(failedPipeline()) as {
    object_attributes: Record<string, unknown>;
    builds?: Array<Record<string, unknown>>;
  };
  Object.assign(payload.object_attributes, {
    id: 53480,
    iid: 2924,
    status: "success",
    detailed_status: "passed",
    created_at: "2024-06-19 04:00:00 UTC",
    finished_at: "2024-06-19 04:10:00 UTC",
  });
  for (const build of payload.builds ?? []) build.status = "success";
  return JSON.stringify(payload);
}

describe("authenticated webhooks through the gateway to Slack and e-mail", () => {
  it("a GitLab pipeline failing then fixed posts two messages and sends two threaded mails", async () => {
    for (const body of [pipeline("running"), failedPipeline()]) {
      assert.equal((await postGitlab(gateway.url, "Pipeline Hook", body)).status, 202);
    }
    const failedPost = await eventually(() => slack.accepted("chat.postMessage")[0], "the failure message");
    assert.equal(failedPost.args.channel, "CANDROID");
    assert.match(String(failedPost.args.text), /^Failed: android-team\/customer-app .* on main/);
    const failedMail = await eventually(() => smtp.mails[0], "the failure mail");
    assert.match(
      failedMail.parsed.subject ?? "",
      /^\[android-team\/customer-app\] .+ failed on main \([0-9a-f]{7}\)$/,
    );

    // a redelivery and a late "running" add nothing
    await postGitlab(gateway.url, "Pipeline Hook", failedPipeline());
    await postGitlab(gateway.url, "Pipeline Hook", pipeline("running"));
    assert.equal((await postGitlab(gateway.url, "Pipeline Hook", nextGreenPipeline())).status, 202);

    const fixedMail = await eventually(() => smtp.mails[1], "the fixed mail");
    assert.match(fixedMail.parsed.subject ?? "", / fixed on main /);
    assert.equal(fixedMail.parsed.inReplyTo, failedMail.parsed.messageId);
    await eventually(() => slack.accepted().some((call) => /^Fixed: /.test(String(call.args.text))), "fixed");
    await sleep(1000);
    const texts = slack
      .accepted()
      // messages only: the channel's auth.test at start is no notice
      .filter((call) => call.method.startsWith("chat.") && call.args.thread_ts === undefined)
      .map((call) => `${call.method} ${String(call.args.text).split(":")[0]}`);
    assert.deepEqual(texts, ["chat.postMessage Failed", "chat.postMessage Fixed"]);
    assert.equal(smtp.mails.length, 2);
  });

  it("one trace id follows a webhook from ingress to its Slack message and its e-mail", async () => {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const failing = JSON.parse(failedPipeline()) as { object_attributes: Record<string, unknown> };
    Object.assign(failing.object_attributes, {
      id: 99_001,
      iid: 99_001,
      created_at: "2024-07-01 04:00:00 UTC",
      finished_at: "2024-07-01 04:10:00 UTC",
    });
    const result = await postGitlab(gateway.url, "Pipeline Hook", JSON.stringify(failing), {
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    assert.equal(result.status, 202);
    const lines = () => gateway.logs.map((line) => JSON.parse(line) as { msg: string; traceId?: string });
    await eventually(
      () => lines().some((line) => line.msg === "Slack message posted" && line.traceId === traceId),
      "a Slack delivery log line with the webhook's trace id",
    );
    await eventually(
      () => lines().some((line) => line.msg === "e-mail sent" && line.traceId === traceId),
      "an e-mail delivery log line with the webhook's trace id",
    );
    assert.ok(lines().some((line) => line.msg === "webhook accepted" && line.traceId === traceId));
  });

  it("the trace id also marks a delivery that failed: grep finds its dead letters", async () => {
    const traceId = "5cf92f3577b34da6a3ce929d0e0e4737";
    const failing = JSON.parse(failedPipeline()) as {
      object_attributes: Record<string, unknown>;
      commit: Record<string, unknown>;
    };
    // a new commit, so the lane (failing since the test before) announces it
    const sha = "f".repeat(40);
    Object.assign(failing.object_attributes, {
      id: 99_002,
      iid: 99_002,
      sha,
      created_at: "2024-07-02 04:00:00 UTC",
      finished_at: "2024-07-02 04:10:00 UTC",
    });
    failing.commit.id = sha;
    slack.failChannel("CANDROID", "channel_not_found");
    smtp.rejectRecipient("android@example.com");
    try {
      const result = await postGitlab(gateway.url, "Pipeline Hook", JSON.stringify(failing), {
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      });
      assert.equal(result.status, 202);
      const lines = () => gateway.logs.map((line) => JSON.parse(line) as { msg: string; traceId?: string });
      for (const msg of ["Slack delivery dead-lettered", "e-mail delivery dead-lettered"]) {
        await eventually(
          () => lines().some((line) => line.msg === msg && line.traceId === traceId),
          `"${msg}" with the webhook's trace id`,
        );
      }
    } finally {
      slack.failChannel("CANDROID", null);
    }
  });
});
