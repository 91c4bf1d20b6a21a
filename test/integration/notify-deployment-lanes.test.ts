import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KV } from "@nats-io/kv";
import { loadConfig } from "../../src/config/load.ts";
import type { Route } from "../../src/config/schema.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { entityOf } from "../../src/notify/entity.ts";
import { laneKvKey } from "../../src/notify/keys.ts";
import { trackEvents } from "../../src/notify/track.ts";
import { decideTransition, type LaneState } from "../../src/notify/transitions.ts";
import { deploymentEvent } from "../helpers/github-runs.ts";
import { kvBuckets } from "../helpers/kv-buckets.ts";

const routes: readonly Route[] = loadConfig({
  env: {},
  overrides: {
    routes: [
      {
        name: "deploys",
        match: { kinds: ["deployment"] },
        on: ["started", "failed", "still_failing", "fixed", "succeeded"],
        email: { to: ["ops@example.com"] },
      },
    ],
  },
}).config.routes;

const deployed = deploymentEvent;

/**
 * Writes the lane the release before this one kept for these events: deployments were followed
 * by environment and ref, so each tag had a lane of its own.
 */
async function decidedByEarlierRelease(kv: KV, events: readonly BuildEvent[]): Promise<LaneState> {
  let lane: LaneState | null = null;
  for (const { data } of events) lane = decideTransition(lane, entityOf(data), data.phase, data.status).lane;
  assert.ok(lane !== null);
  const [first] = events;
  assert.ok(first?.data.ref.name);
  const laneId = [
    "github",
    "deployment",
    first.data.repository.fullName,
    first.data.ref.name,
    "production",
  ].join("\u0000");
  await kv.put(laneKvKey("email", laneId), JSON.stringify(lane));
  return lane;
}

const transitionsOf = async (kv: KV, events: readonly BuildEvent[]) =>
  (await trackEvents(kv, "email", routes, events)).decisions.map(({ decision }) => ({
    transition: decision.transition,
    fresh: decision.fresh,
    threadRootId: decision.threadRootId,
  }));

describe("deployment lanes across an upgrade", () => {
  const bucket = kvBuckets("deploy-lanes");

  it("a tag failing before the upgrade is fixed by the next tag after it, in the same thread", async () => {
    const kv = await bucket();
    const failure = deployed(1, "v1.0", "failure");
    const old = await decidedByEarlierRelease(kv, [deployed(1, "v1.0", "in_progress"), failure]);
    assert.deepEqual(await transitionsOf(kv, [deployed(2, "v1.0.1", "success")]), [
      { transition: "fixed", fresh: true, threadRootId: old.failingSince },
    ]);
    // the failure redelivered after the upgrade was announced already
    assert.deepEqual(await transitionsOf(kv, [failure]), [
      { transition: "failed", fresh: false, threadRootId: null },
    ]);
    assert.deepEqual(await transitionsOf(kv, [deployed(3, "v1.1.0", "failure")]), [
      { transition: "failed", fresh: true, threadRootId: null },
    ]);
  });

  it("a failure redelivered first after the upgrade is not announced again", async () => {
    const kv = await bucket();
    const failure = deployed(1, "v1.0", "failure");
    const old = await decidedByEarlierRelease(kv, [failure]);
    assert.deepEqual(await transitionsOf(kv, [failure]), [
      { transition: "failed", fresh: false, threadRootId: null },
    ]);
    assert.deepEqual(await transitionsOf(kv, [deployed(2, "v1.0.1", "failure")]), [
      { transition: "still_failing", fresh: true, threadRootId: old.failingSince },
    ]);
  });

  it("of several tags' lanes, the latest deployment's decides", async () => {
    const kv = await bucket();
    await decidedByEarlierRelease(kv, [deployed(1, "v1.0", "success")]);
    const old = await decidedByEarlierRelease(kv, [deployed(2, "v1.0.1", "failure")]);
    assert.deepEqual(await transitionsOf(kv, [deployed(3, "v1.0.2", "success")]), [
      { transition: "fixed", fresh: true, threadRootId: old.failingSince },
    ]);
  });

  it("a branch failing before the upgrade is fixed by a tag after it, and the branch follows the tag", async () => {
    const kv = await bucket();
    const main = await decidedByEarlierRelease(kv, [deployed(1, "main", "failure")]);
    assert.deepEqual(await transitionsOf(kv, [deployed(2, "v2.0", "success")]), [
      { transition: "fixed", fresh: true, threadRootId: main.failingSince },
    ]);
    assert.deepEqual(await transitionsOf(kv, [deployed(3, "main", "success")]), [
      { transition: "succeeded", fresh: true, threadRootId: null },
    ]);
  });
});

describe("one environment deployed from a branch, tags and commits", () => {
  const bucket = kvBuckets("deploy-mixed");

  it("production's own history decides, whatever was deployed", async () => {
    const kv = await bucket();
    const sha = "2".repeat(40);
    const story = [
      deployed(1, "main", "failure"),
      deployed(2, sha, "failure"), // Argo rolls out a commit
      deployed(3, "main", "success"),
      deployed(4, "v1.1", "failure"),
      deployed(5, "hotfix-login", "success"),
      deployed(6, "v1.2", "success"),
    ];
    const transitions: unknown[] = [];
    for (const event of story)
      transitions.push(...(await transitionsOf(kv, [event])).map((d) => d.transition));
    assert.deepEqual(transitions, ["failed", "still_failing", "fixed", "failed", "fixed", "succeeded"]);
    // the same story in one consumer batch
    assert.deepEqual(
      (await transitionsOf(await bucket(), story)).map((d) => d.transition),
      transitions,
    );
  });
});

describe("deployments taken down", () => {
  const bucket = kvBuckets("deploy-inactive");

  it("a failed preview marked inactive (its pull request closed) is not fixed", async () => {
    const kv = await bucket();
    assert.deepEqual(
      await transitionsOf(kv, [
        deployed(1, "feature-a", "failure", "Preview"),
        deployed(2, "feature-b", "success", "Preview"),
        deployed(1, "feature-a", "inactive", "Preview", 3),
      ]),
      [
        { transition: "failed", fresh: true, threadRootId: null },
        { transition: "succeeded", fresh: true, threadRootId: null },
      ],
    );
    const [fixed] = await transitionsOf(kv, [deployed(4, "feature-a", "success", "Preview")]);
    assert.equal(fixed?.transition, "fixed");
  });
});
