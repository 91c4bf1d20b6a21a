import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import { entityOf } from "../../src/notify/entity.ts";
import { laneKvKey, recordKvKey, slackClaimKvKey, slackMessageKvKey } from "../../src/notify/keys.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
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
const TESTS = ["longname", "longcontext", "upgraded"] as const;

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

/** A key as releases before hashed names spelled it: every part =HH-encoded, however long. */
const spelled = (key: string, ...names: string[]): string => {
  const spell = (name: string) =>
    name === ""
      ? "="
      : [...Buffer.from(name, "utf8")]
          .map((byte) => {
            const char = String.fromCharCode(byte);
            return /[A-Za-z0-9_/-]/.test(char)
              ? char
              : `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
          })
          .join("");
  const parts = key.split(".");
  return [...parts.slice(0, parts.length - names.length), ...names.map(spell)].join(".");
};

describe("a long-named run's notices across the upgrade that hashed its keys", () => {
  it("are decided and updated in place from the state an earlier release kept", async () => {
    const context = `ci/jenkins: ${"build and test step ".repeat(60)}`;
    const channel = slackChannelOf("upgraded");
    const statusOf = (status: "failure" | "success", at: string): BuildEvent => {
      const event = minuteRun("acme/upgraded", 1, status, {
        pipeline: context,
        runId: `${"b".repeat(40)}:${context}`,
        runNumber: null,
        at,
      });
      // a commit status: a re-run's newest state replaces its failure
      return { ...event, data: { ...event.data, run: { ...event.data.run, latestWins: true } } };
    };
    const failed = statusOf("failure", "2024-05-01T10:01:50Z");
    const { laneId, key: entityKey } = entityOf(failed.data);
    const kv = await new Kvm(harness.bus.nc).open(harness.loaded.config.notify.bucket);
    const keys = [
      [laneKvKey("slack", laneId), laneId],
      [recordKvKey("slack", entityKey), entityKey],
      [slackMessageKvKey(channel, entityKey), channel, entityKey],
      [slackClaimKvKey(channel, entityKey), channel, entityKey],
    ] as const;
    assert.ok(
      keys.every(([key, ...names]) => key !== spelled(key, ...names)),
      "hashed keys",
    );
    await publishEvents(harness.bus.js, failed);
    await eventually(() => posted("upgraded").length === 1, "the failure's message");
    await eventually(async () => (await kv.get(keys[2][0]))?.operation === "PUT", "its saved message");
    // the state as the release before kept it: under its names spelled out
    for (const [key, ...names] of keys) {
      const entry = await kv.get(key);
      if (entry?.operation !== "PUT") continue;
      await kv.put(spelled(key, ...names), entry.value);
      await kv.purge(key);
    }
    await publishEvents(harness.bus.js, statusOf("success", "2024-05-01T10:05:50Z"));
    const updates = () => slack.accepted("chat.update").filter((call) => call.args.channel === channel);
    await eventually(() => updates().length === 1, "the failure's message updated to fixed");
    assert.match(String(updates()[0]?.args.text), /^Fixed/);
    assert.equal(posted("upgraded").length, 1, "no second message for the run");
  });
});
