import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { minuteRun, publishEvents } from "../helpers/events.ts";
import {
  eventually,
  slackChannelOf,
  startSlackRoutes,
  type NotifyHarness,
} from "../helpers/notify-harness.ts";
import type { SlackServer } from "../helpers/slack-server.ts";

// Names are whatever their sender wrote: a fork's pull request runs the workflow file of the
// fork, `name:` and jobs included, and a commit status's context is any text an external CI
// posts. The notify state in KV is keyed by them, and NATS closes the connection of a client
// whose protocol line (a KV get or put names its key in the subject) passes 4 KB.
const TESTS = ["longname", "longcontext"] as const;

let slack: SlackServer;
let harness: NotifyHarness;

before(async () => {
  ({ slack, harness } = await startSlackRoutes(TESTS, {
    slack: { minInterval: 100, timeout: 2000 },
    delivery: { attempts: 4, backoff: 200, concurrency: 8 },
  }));
});

after(async () => {
  await harness.close();
  await slack.close();
});

const posted = (test: (typeof TESTS)[number]) =>
  slack.accepted("chat.postMessage").filter((call) => call.args.channel === slackChannelOf(test));

const disconnects = () => harness.logs.filter((line) => line.includes("disconnected from NATS")).length;

describe("notices about runs with very long names", () => {
  it("are sent, and never cost the gateway its NATS connection", async () => {
    // 900 characters, Japanese and spaces: each is 3 to 9 characters in a KV key
    const workflow = "ビルド と テスト ".repeat(100);
    const context = `ci/jenkins: ${"pipelines/".repeat(500)}build`;
    const status = minuteRun("acme/longcontext", 1, "failure", {
      pipeline: context,
      runId: `${"a".repeat(40)}:${context}`,
      runNumber: null,
    });
    // (its link is the CI's page, not made of the context)
    const run = { ...status.data.run, url: "https://jenkins.example.com/job/api/1/" };
    await publishEvents(harness.bus.js, minuteRun("acme/longname", 1, "failure", { pipeline: workflow }), {
      ...status,
      data: { ...status.data, run },
    });
    await eventually(() => posted("longname").length === 1, "the failure of the long-named workflow");
    await eventually(
      () => posted("longcontext").length === 1,
      "the failure of the long commit status context",
    );
    assert.match(String(posted("longname")[0]?.args.text), /^Failed: acme\/longname ビルド と テスト/);
    assert.equal(disconnects(), 0, "the NATS connection was dropped");
  });
});
