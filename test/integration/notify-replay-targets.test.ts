import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load.ts";
import type { Route } from "../../src/config/schema.ts";
import { recordKvKey } from "../../src/notify/keys.ts";
import type { SlackTarget } from "../../src/notify/record.ts";
import { trackEvents } from "../../src/notify/track.ts";
import { buildEvent } from "../helpers/events.ts";
import { kvBuckets } from "../helpers/kv-buckets.ts";

const everything = ["failed", "still_failing", "fixed", "succeeded"] as const;

function routesTo(...channels: string[]): readonly Route[] {
  return loadConfig({
    env: {},
    overrides: {
      routes: channels.map((channel) => ({ name: `to-${channel}`, on: everything, slack: { channel } })),
    },
  }).config.routes;
}

/** The Slack channels a record gets from the routes its notice matched, as channels/slack.ts derives them. */
const targetsOf = (routes: readonly Route[]): Record<string, SlackTarget> =>
  Object.fromEntries(
    routes.flatMap((route) =>
      route.slack
        ? [[route.slack.channel, { route: route.name, mentionAuthor: true, threadFailures: true }]]
        : [],
    ),
  );

const main = { repository: "acme/api", branch: "main", pipeline: "CI" } as const;
const older = buildEvent({ ...main, runId: "163", status: "success", at: "2024-05-01T10:00:00Z" });
const newer = buildEvent({ ...main, runId: "164", status: "failure", at: "2024-05-01T11:00:00Z" });

describe("Slack targets of replayed decisions", () => {
  const bucket = kvBuckets("replay-targets");

  test("a route added later gets no message about a run decided before it, when the run's events are replayed", async () => {
    // what `buildcast replay --consumer notify-slack` after adding a route did: run 163 (passed,
    // handled under the old routes) was posted to the new channel, after its newer run 164
    // had been announced there as failed
    const kv = await bucket();
    await trackEvents(kv, "slack", routesTo("C0FIRST0001"), [older], { targetsOf });
    const added = routesTo("C0FIRST0001", "C0SECOND001");
    await trackEvents(kv, "slack", added, [newer], { targetsOf });
    const replayed = await trackEvents(kv, "slack", added, [older, newer], { targetsOf });
    for (const { record, changed } of replayed.records) {
      assert.equal(changed, false, `${record.key} learnt nothing from the replay`);
    }
    const olderRecord = replayed.records.find(({ record }) => record.key.includes("163"))?.record;
    assert.deepEqual(Object.keys(olderRecord?.targets ?? {}), ["C0FIRST0001"]);
    const newerRecord = replayed.records.find(({ record }) => record.key.includes("164"))?.record;
    assert.deepEqual(Object.keys(newerRecord?.targets ?? {}).sort(), ["C0FIRST0001", "C0SECOND001"]);
  });

  test("a redelivery after a crash between the lane's write and the record's still gives the record its channels", async () => {
    const kv = await bucket();
    const routes = routesTo("C0FIRST0001");
    const first = await trackEvents(kv, "slack", routes, [newer], { targetsOf });
    const key = first.records[0]?.record.key ?? "";
    // the lane keeps the decision; the record's write never happened
    await kv.purge(recordKvKey("slack", key));
    const again = await trackEvents(kv, "slack", routes, [newer], { targetsOf });
    assert.equal(again.decisions[0]?.decision.fresh, false, "the decision is replayed from the lane");
    assert.equal(again.records[0]?.changed, true);
    assert.deepEqual(Object.keys(again.records[0]?.record.targets ?? {}), ["C0FIRST0001"]);
  });
});
