import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import type { BuildEvent } from "../../src/events/schema.ts";
import { entityOf } from "../../src/notify/entity.ts";
import { laneKvKey } from "../../src/notify/keys.ts";
import { publishEvent } from "../helpers/events.ts";
import { workflowRunEvent, type WorkflowRunSpec } from "../helpers/github-runs.ts";
import {
  eventually,
  slackChannelOf,
  sleep,
  startSlackRoutes,
  type NotifyHarness,
} from "../helpers/notify-harness.ts";
import type { SlackServer } from "../helpers/slack-server.ts";

// GitHub Actions workflows of one repository's main, built from a real workflow_run payload
const TESTS = ["twins", "renamed", "upgrade", "rollout", "upgradedtwins", "twinsrollout"] as const;
type TestName = (typeof TESTS)[number];
const channelOf = (test: TestName) => slackChannelOf(test);

let slack: SlackServer;
let harness: NotifyHarness;

before(async () => {
  ({ slack, harness } = await startSlackRoutes(TESTS, {
    slack: { minInterval: 300, timeout: 2000 },
    delivery: { attempts: 4, backoff: 200, concurrency: 8 },
  }));
});

after(async () => {
  await harness.close();
  await slack.close();
});

type Run = Omit<WorkflowRunSpec, "repository">;

const workflowRun = (test: TestName, run: Run): BuildEvent =>
  workflowRunEvent({ ...run, repository: `acme/${test}` });

const publish = (test: TestName, run: Run) => publishEvent(harness.bus.js, workflowRun(test, run));

const headlines = (test: TestName): string[] =>
  slack.calls
    .filter((call) => call.args.channel === channelOf(test) && call.answered === 200)
    .map((call) => String(call.args.text).replace(/ on main.*/, ""))
    .sort();

describe("GitHub workflows of one branch", () => {
  it("two workflows sharing a name are followed apart, whatever their run numbers", async () => {
    // ci.yml (workflow 1, at run 300) and ci-docs.yml (workflow 2, at run 12), both `name: CI`
    for (const run of [
      { workflowId: 1, number: 300, conclusion: "failure", day: 1, minute: 0 },
      { workflowId: 2, number: 12, conclusion: "success", day: 1, minute: 1 },
      { workflowId: 1, number: 301, conclusion: "success", day: 2, minute: 0 },
      { workflowId: 2, number: 13, conclusion: "failure", day: 2, minute: 1 },
      { workflowId: 2, number: 14, conclusion: "failure", day: 3, minute: 1 },
    ] as const) {
      await publish("twins", { ...run, name: "CI" });
    }
    await eventually(() => headlines("twins").length >= 4, "four notices");
    await sleep(1000);
    assert.deepEqual(headlines("twins"), [
      "Failed: acme/twins CI #13",
      "Failed: acme/twins CI #300",
      "Fixed: acme/twins CI #301",
      "Still failing: acme/twins CI #14",
    ]);
  });

  it("a failing workflow renamed in the commit that fixes it is fixed", async () => {
    await publish("renamed", {
      workflowId: 7,
      name: "CI",
      number: 40,
      conclusion: "failure",
      day: 1,
      minute: 0,
    });
    await eventually(() => headlines("renamed").length >= 1, "the failure");
    await publish("renamed", {
      workflowId: 7,
      name: "Build",
      number: 41,
      conclusion: "success",
      day: 2,
      minute: 0,
    });
    await eventually(() => headlines("renamed").length >= 2, "the fix");
    assert.deepEqual(headlines("renamed"), ["Failed: acme/renamed CI #40", "Fixed: acme/renamed Build #41"]);
  });

  it("a workflow failing before an upgrade (its events without a workflow id) is fixed after it", async () => {
    await publish("upgrade", {
      workflowId: null,
      name: "CI",
      number: 5,
      conclusion: "failure",
      day: 1,
      minute: 0,
    });
    await eventually(() => headlines("upgrade").length >= 1, "the failure");
    await publish("upgrade", {
      workflowId: 3,
      name: "CI",
      number: 6,
      conclusion: "success",
      day: 2,
      minute: 0,
    });
    await eventually(() => headlines("upgrade").length >= 2, "the fix");
    assert.deepEqual(headlines("upgrade"), ["Failed: acme/upgrade CI #5", "Fixed: acme/upgrade CI #6"]);
  });

  it("two workflows sharing a name are followed apart after an upgrade too", async () => {
    // (run numbers apart from the other tests': the helper gives every repository one id)
    // the name's lane of the release before workflows were followed by id: ci.yml passed
    await publish("upgradedtwins", {
      workflowId: null,
      name: "CI",
      number: 399,
      conclusion: "success",
      day: 1,
      minute: 0,
    });
    await sleep(500);
    // after the upgrade, ci.yml (workflow 1) and ci-docs.yml (workflow 2), both `name: CI`,
    // build each commit
    for (const run of [
      { workflowId: 1, number: 400, conclusion: "failure", day: 2, minute: 0 },
      { workflowId: 2, number: 50, conclusion: "success", day: 2, minute: 1 },
      { workflowId: 1, number: 401, conclusion: "success", day: 3, minute: 0 },
      { workflowId: 2, number: 51, conclusion: "success", day: 3, minute: 1 },
    ] as const) {
      await publish("upgradedtwins", { ...run, name: "CI" });
      await sleep(500);
    }
    await eventually(() => headlines("upgradedtwins").length >= 2, "two notices");
    await sleep(1000);
    // ci-docs.yml never failed, and ci.yml's fix is its own
    assert.deepEqual(headlines("upgradedtwins"), [
      "Failed: acme/upgradedtwins CI #400",
      "Fixed: acme/upgradedtwins CI #401",
    ]);
  });

  it("while old and new replicas both decide (a rollout, a rollback), each notice is sent once", async () => {
    // an event without a workflow id is decided in the lane named after the workflow, as every
    // event is by a replica of the release before workflows were followed by id
    const steps: Array<[number | null, number, "success" | "failure"]> = [
      [null, 21, "failure"], // old: Failed
      [3, 22, "failure"], // new: Still failing
      [null, 23, "success"], // old: Fixed
      [3, 24, "success"], // new: nothing to say; not a second Fixed
      [3, 25, "failure"], // new: Failed
      [null, 26, "failure"], // old: Still failing; not a second Failed
    ];
    for (const [i, [workflowId, number, conclusion]] of steps.entries()) {
      await publish("rollout", { workflowId, name: "CI", number, conclusion, day: i + 1, minute: 0 });
      await sleep(500);
    }
    await eventually(() => headlines("rollout").length >= 5, "five notices");
    await sleep(1000);
    assert.deepEqual(headlines("rollout"), [
      "Failed: acme/rollout CI #21",
      "Failed: acme/rollout CI #25",
      "Fixed: acme/rollout CI #23",
      "Still failing: acme/rollout CI #22",
      "Still failing: acme/rollout CI #26",
    ]);
  });

  it("two workflows sharing a name stay apart while a replica of the release before this one writes the name's lane", async () => {
    // (run numbers apart from the other tests': the helper gives every repository one id)
    type Lane = { last: { key: string; workflow?: string } | null };
    const kv = await new Kvm(harness.bus.nc).open(harness.loaded.config.notify.bucket);
    const runs = [
      // the name's lane of the release before workflows were followed by id: ci.yml passed
      { workflowId: null, name: "CI", number: 599, conclusion: "success", day: 1, minute: 0 },
      // ci.yml (workflow 1) fails, ci-docs.yml (workflow 2) passes
      { workflowId: 1, name: "CI", number: 600, conclusion: "failure", day: 2, minute: 0 },
      { workflowId: 2, name: "CI", number: 70, conclusion: "success", day: 2, minute: 1 },
    ] as const;
    const legacyLaneId = entityOf(workflowRun("twinsrollout", runs[2]).data).legacyLaneId;
    assert.ok(legacyLaneId !== undefined);
    const nameLane = laneKvKey("slack", legacyLaneId);
    const counted = async () => (await kv.get(nameLane))?.json<Lane>().last ?? null;
    for (const run of runs) {
      await publish("twinsrollout", run);
      const { key } = entityOf(workflowRun("twinsrollout", run).data);
      await eventually(async () => (await counted())?.key === key, `run ${run.number} in the name's lane`);
    }
    // as a replica of the release before this one (which followed workflows by id, but did
    // not say whose run it counted) leaves the name's lane after counting ci-docs.yml's run
    const lane = (await kv.get(nameLane))?.json<Lane>();
    assert.equal(lane?.last?.workflow, "2", "ci-docs.yml's run is the name's latest");
    const { workflow: _, ...last } = lane.last;
    await kv.put(nameLane, JSON.stringify({ ...lane, last }));
    // ci.yml's fix is its own
    await publish("twinsrollout", {
      workflowId: 1,
      name: "CI",
      number: 601,
      conclusion: "success",
      day: 3,
      minute: 0,
    });
    await eventually(() => headlines("twinsrollout").length >= 2, "two notices");
    await sleep(1000);
    assert.deepEqual(headlines("twinsrollout"), [
      "Failed: acme/twinsrollout CI #600",
      "Fixed: acme/twinsrollout CI #601",
    ]);
  });
});
