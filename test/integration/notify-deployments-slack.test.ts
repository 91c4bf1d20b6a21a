import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { BuildEvent } from "../../src/events/schema.ts";
import { normalizeGithub } from "../../src/normalize/github.ts";
import { publishEvent } from "../helpers/events.ts";
import { eventually, startNotifyHarness, type NotifyHarness } from "../helpers/notify-harness.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { readFixture } from "../helpers/webhooks.ts";

// production deployed from tags, announced in Slack: a real deployment_status payload
const CHANNEL = "CDEPLOYS";
const fixture = JSON.parse(readFixture("github/deployment_status.created.1.json")) as {
  deployment: Record<string, unknown>;
  deployment_status: Record<string, unknown>;
};

function deployed(id: number, ref: string, state: string): BuildEvent {
  const time = `2026-12-01T10:${String(id).padStart(2, "0")}:00Z`;
  const sha = `${id}`.repeat(40).slice(0, 40);
  const result = normalizeGithub({
    event: "deployment_status",
    deliveryId: null,
    payload: {
      ...fixture,
      deployment: { ...fixture.deployment, id, ref, sha, created_at: time, updated_at: time },
      deployment_status: { ...fixture.deployment_status, id: 100 + id, state, updated_at: time },
    },
  });
  assert.ok(result.handled);
  return result.events[0] as BuildEvent;
}

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
