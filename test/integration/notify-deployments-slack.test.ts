import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { publishEvent } from "../helpers/events.ts";
import { eventually, startNotifyHarness, type NotifyHarness } from "../helpers/notify-harness.ts";
import { startSlackServer, type SlackCall, type SlackServer } from "../helpers/slack-server.ts";
import { deploymentEvent } from "../helpers/github-runs.ts";

// production deployed from tags, announced in Slack: a real deployment_status payload
const CHANNEL = "CDEPLOYS";
const deployed = deploymentEvent;

let slack: SlackServer;
let harness: NotifyHarness;

before(async () => {
  slack = await startSlackServer();
  harness = await startNotifyHarness(
    { SLACK_BOT_TOKEN: "xoxb-test-token", SLACK_API_URL: slack.apiUrl },
    {
      routes: [
        {
          name: "production",
          match: { kinds: ["deployment"], tags: ["v*"] },
          on: ["failed", "still_failing", "fixed"],
          slack: { channel: CHANNEL },
        },
      ],
      notify: {
        slack: { apiUrl: slack.apiUrl, minInterval: 300, timeout: 2000 },
        delivery: { attempts: 4, backoff: 200, concurrency: 8 },
      },
    },
  );
});

after(async () => {
  await harness.close();
  await slack.close();
});

const headlines = (): string[] =>
  slack.calls
    .filter((call) => call.args.channel === CHANNEL && call.answered === 200)
    .map((call) => String(call.args.text).split(":")[0] ?? "");

describe("production deployed from tags, in Slack", () => {
  it("a release failing is fixed by the next one, and a failing release after it is news again", async () => {
    for (const [id, ref, state] of [
      [1, "v1.0", "failure"],
      [2, "refs/tags/v1.0.1", "success"],
      [3, "v1.1", "failure"],
      [4, "v1.1.1", "failure"],
    ] as const) {
      await publishEvent(harness.bus.js, deployed(id, ref, state));
      await eventually(() => headlines().length >= id, `notice ${id}`);
    }
    assert.deepEqual(headlines(), ["Failed", "Fixed", "Failed", "Still failing"]);
  });
});

describe("a failed deployment someone later marks inactive, in Slack", () => {
  it("keeps its message red under its headline: taking a deployment down decides nothing", async () => {
    const messageOf = (ref: string) => (call: SlackCall) =>
      call.args.channel === CHANNEL &&
      call.answered === 200 &&
      String(call.args.text).includes(`deploy to staging on ${ref} `);
    const shown = (call: SlackCall | undefined) =>
      `${String(call?.args.text)} ${JSON.stringify(call?.args.blocks)}`;
    await publishEvent(harness.bus.js, deployed(20, "v2.0", "failure", "staging"));
    await eventually(() => slack.calls.some(messageOf("v2.0")), "the failure's message");
    await publishEvent(harness.bus.js, deployed(21, "v2.1", "success", "staging"));
    await eventually(() => slack.calls.some(messageOf("v2.1")), "the next release's message");
    // GitHub only deactivates successful deployments by itself; a person or a cleanup job
    // (`POST /deployments/{id}/statuses` with state inactive) deactivates a failed one
    await publishEvent(harness.bus.js, deployed(20, "v2.0", "inactive", "staging", 22));
    // a render of the inactive state, were there one, goes out within minInterval (300 ms)
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.match(
      shown(slack.calls.filter(messageOf("v2.1")).at(-1)),
      /^Fixed: .*:large_green_circle: \*Fixed\*/,
    );
    const failed = slack.calls.filter(messageOf("v2.0"));
    for (const call of failed) assert.match(shown(call), /^Failed: .*:red_circle: \*Failed\*/);
  });
});
