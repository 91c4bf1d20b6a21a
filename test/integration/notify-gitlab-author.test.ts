import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestGateway } from "../helpers/gateway.ts";
import { closeNotifyStack, startNotifyStack } from "../helpers/notify-stack.ts";
import { eventually } from "../helpers/notify-harness.ts";
import type { SlackServer } from "../helpers/slack-server.ts";
import type { SmtpSink } from "../helpers/smtp-sink.ts";
import { postGitlab, readFixture } from "../helpers/webhooks.ts";

let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  ({ slack, smtp, gateway } = await startNotifyStack({
    people: [{ email: "razyl@example.com", gitlab: "razylvidal", slack: "URAZYL" }],
    routes: [
      {
        name: "jobs",
        match: { kinds: ["job"], providers: ["gitlab"] },
        on: ["failed"],
        slack: { channel: "CJOBS", mentionAuthor: true },
        email: { to: ["team@example.com"], author: true },
      },
      {
        name: "pipelines",
        match: { providers: ["gitlab"] },
        on: ["failed"],
        slack: { channel: "CPIPE", mentionAuthor: true },
        email: { to: ["team@example.com"], author: true },
      },
    ],
    notify: { slack: { minInterval: 200 }, delivery: { backoff: 200 } },
  }));
});

after(() => closeNotifyStack({ slack, smtp, gateway }));

/** The job fixture's job, failing (not allowed to). */
function failedJob(): string {
  const payload = JSON.parse(readFixture("gitlab/job.nuecagram-real.failed.json")) as Record<string, unknown>;
  payload["build_allow_failure"] = false;
  return JSON.stringify(payload);
}

/** The pipeline of that job, failed: a pipeline hook names its commit's author by name only. */
function failedPipeline(): string {
  const payload = JSON.parse(readFixture("gitlab/pipeline.nuecagram-real.failed.json")) as {
    object_attributes: Record<string, unknown>;
    project: Record<string, unknown>;
    commit: Record<string, unknown>;
  };
  Object.assign(payload.object_attributes, {
    id: 53093,
    ref: "t2_dispatcher_review_vR.13",
    tag: true,
    sha: "a811f8ab22f7c28183a28a595b034ec8bc85b935",
    detailed_status: "failed",
  });
  Object.assign(payload.project, { id: 282, web_url: "https://gitlab.com/android-team/dispatcher-app" });
  payload.project["path_with_namespace"] = "android-team/tindahannimama/dispatcher-app";
  Object.assign(payload.commit, {
    id: "a811f8ab22f7c28183a28a595b034ec8bc85b935",
    title: "Bump version",
    author: { name: "Razyl Abbygail Vidal", email: "[REDACTED]" },
  });
  return JSON.stringify(payload);
}

void describe("a GitLab.com failure (commit e-mail [REDACTED])", () => {
  void it("mentions and mails the commit author found in people by the username GitLab links", async () => {
    // pushed by raquezha, authored by razylvidal: only commit.author_url names the author
    const payload = JSON.parse(readFixture("gitlab/job.nuecagram-real.failed.json")) as Record<
      string,
      unknown
    >;
    payload["build_allow_failure"] = false;
    assert.equal((await postGitlab(gateway.url, "Job Hook", JSON.stringify(payload))).status, 202);

    const post = await eventually(() => slack.accepted("chat.postMessage")[0], "the failure message");
    assert.match(JSON.stringify(post.args.blocks), /\*Author\*\\n<@URAZYL>/);
    const mail = await eventually(
      () => smtp.mails.find((sent) => /publish-badge failed/.test(sent.parsed.subject ?? "")),
      "the failure mail",
    );
    assert.deepEqual([...mail.envelopeTo].sort(), ["razyl@example.com", "team@example.com"]);
  });

  void it("a pipeline's notices find the author its job events named", async () => {
    // the job hooks (which link the author's profile) come before the pipeline's own
    assert.equal((await postGitlab(gateway.url, "Job Hook", failedJob())).status, 202);
    assert.equal((await postGitlab(gateway.url, "Pipeline Hook", failedPipeline())).status, 202);

    const post = await eventually(
      () => slack.accepted("chat.postMessage").find((call) => call.args.channel === "CPIPE"),
      "the pipeline's failure message",
    );
    assert.match(JSON.stringify(post.args.blocks), /\*Author\*\\n<@URAZYL>/);
    const mail = await eventually(
      () => smtp.mails.find((sent) => /pipeline failed/.test(sent.parsed.subject ?? "")),
      "the pipeline's failure mail",
    );
    assert.deepEqual([...mail.envelopeTo].sort(), ["razyl@example.com", "team@example.com"]);
  });
});

void describe("a job's failure told by its pipeline's hook before its own job hook", () => {
  void it("still mentions and mails the author its earlier job hook named", async () => {
    // the job's hook while it ran links the author; its failure reaches buildcast first in
    // its pipeline's hook (whose builds name no author), then in its own hook (a duplicate)
    const job = JSON.parse(failedJob()) as Record<string, unknown>;
    // another job name: the first test's job failed in its lane already
    const ids = { build_id: 573579, build_name: "publish-badge-late", pipeline_id: 63093 };
    const running = { ...job, ...ids, build_status: "running", build_finished_at: null };
    assert.equal((await postGitlab(gateway.url, "Job Hook", JSON.stringify(running))).status, 202);
    const pipeline = JSON.parse(failedPipeline()) as { object_attributes: Record<string, unknown> };
    pipeline.object_attributes["id"] = ids.pipeline_id;
    delete pipeline.object_attributes["url"];
    const build = {
      id: ids.build_id,
      stage: job["build_stage"],
      name: ids.build_name,
      status: "failed",
      created_at: job["build_created_at"],
      started_at: job["build_started_at"],
      finished_at: job["build_finished_at"],
      duration: job["build_duration"],
      allow_failure: false,
      user: job["user"],
      runner: job["runner"],
    };
    const hook = { ...pipeline, builds: [build] };
    assert.equal((await postGitlab(gateway.url, "Pipeline Hook", JSON.stringify(hook))).status, 202);
    const duplicate = await postGitlab(gateway.url, "Job Hook", JSON.stringify({ ...job, ...ids }));
    assert.equal(duplicate.body.duplicates, 1);

    const post = await eventually(
      () =>
        slack
          .accepted("chat.postMessage")
          .find((call) => call.args.channel === "CJOBS" && /jobs\/573579/.test(JSON.stringify(call.args))),
      "the job's failure message",
    );
    assert.match(JSON.stringify(post.args.blocks), /\*Author\*\\n<@URAZYL>/);
    const mail = await eventually(
      () => smtp.mails.find((sent) => /publish-badge-late failed/.test(sent.parsed.subject ?? "")),
      "the job's failure mail",
    );
    assert.deepEqual([...mail.envelopeTo].sort(), ["razyl@example.com", "team@example.com"]);
  });
});
