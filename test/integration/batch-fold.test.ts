import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { KV } from "@nats-io/kv";
import { loadConfig } from "../../src/config/load.ts";
import type { Route } from "../../src/config/schema.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { EntryCache } from "../../src/bus/kv-cache.ts";
import { trackCaches, trackEvents } from "../../src/notify/track.ts";
import type { BranchState, RunState } from "../../src/status/model.ts";
import { applyEventsToStore, applyToStore } from "../../src/status/store.ts";
import { buildEvent } from "../helpers/events.ts";
import { kvBuckets } from "../helpers/kv-buckets.ts";

// three runs of one lane (main) and one of another (dev), with job events, duplicates and
// states that arrive before the states they follow
const at = (minute: number): string => `2024-05-01T10:${String(minute).padStart(2, "0")}:00Z`;
const main = { repository: "acme/api", branch: "main" } as const;
const jobA = { id: "a", name: "lint" };
const jobB = { id: "b", name: "test" };
const story: BuildEvent[] = [
  buildEvent({ ...main, runId: "101", status: "running", at: at(1) }),
  buildEvent({ ...main, runId: "101", status: "success", job: jobA, at: at(3) }),
  buildEvent({ ...main, runId: "101", status: "running", job: jobA, at: at(2) }),
  buildEvent({ ...main, runId: "102", status: "running", at: at(4) }),
  buildEvent({ ...main, runId: "101", status: "failure", job: jobB, at: at(5) }),
  buildEvent({ ...main, runId: "101", status: "failure", at: at(6) }),
  buildEvent({ ...main, runId: "101", status: "running", at: at(1) }),
  buildEvent({ repository: "acme/api", branch: "dev", runId: "201", status: "failure", at: at(7) }),
  buildEvent({ ...main, runId: "102", status: "failure", job: jobB, at: at(8) }),
  buildEvent({ ...main, runId: "102", status: "failure", at: at(9) }),
  buildEvent({ ...main, runId: "101", status: "failure", job: jobB, at: at(5) }),
  buildEvent({ ...main, runId: "103", status: "success", at: at(12) }),
  buildEvent({ ...main, runId: "103", status: "running", at: at(10) }),
  buildEvent({ ...main, runId: "103", status: "success", job: jobB, at: at(11) }),
  buildEvent({ ...main, runId: "102", status: "failure", at: at(9) }),
];

const routes: readonly Route[] = loadConfig({
  env: {},
  overrides: {
    routes: [
      {
        name: "runs",
        on: ["started", "failed", "still_failing", "fixed", "succeeded"],
        email: { to: ["team@example.com"] },
      },
      { name: "jobs", match: { kinds: ["job"] }, on: ["failed", "fixed"], email: { to: ["qa@example.com"] } },
    ],
  },
}).config.routes;

/** Every key and value of a bucket; revisions name writes, which batching saves, so they are left out. */
async function contents(kv: KV): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const keys: string[] = [];
  for await (const key of await kv.keys()) keys.push(key);
  for (const key of keys.sort()) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT")
      out[key] = JSON.parse(entry.string(), (name, value: unknown) => (name === "revision" ? 0 : value));
  }
  return out;
}

const chunks = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

describe("folding a batch equals handling its events one by one", () => {
  const bucket = kvBuckets("fold");

  test("status store: the same run records and branch lists", async () => {
    const single = await bucket();
    for (const event of story) await applyToStore({ kv: single, runsPerBranch: 5 }, event);
    const expected = await contents(single);
    assert.ok(Object.keys(expected).some((key) => key.startsWith("branch.")));

    for (const size of [story.length, 4]) {
      const batched = await bucket();
      for (const chunk of chunks(story, size))
        await applyEventsToStore({ kv: batched, runsPerBranch: 5 }, chunk);
      assert.deepEqual(await contents(batched), expected, `batches of ${size}`);
    }
    // the same with the caches a consumer keeps (what it last wrote is not read again)
    for (const size of [1, 4, story.length]) {
      const cached = await bucket();
      // outside production the caches deep-freeze what they keep: a change in place throws
      const caches = {
        runs: new EntryCache<RunState>({ entries: 2 }),
        branches: new EntryCache<BranchState>(),
      };
      for (const chunk of chunks(story, size))
        await applyEventsToStore({ kv: cached, runsPerBranch: 5, caches }, chunk);
      assert.deepEqual(await contents(cached), expected, `cached, batches of ${size}`);
    }
  });

  test("notify: the same lanes, records and notices", async () => {
    const noticesOf = (decisions: Awaited<ReturnType<typeof trackEvents>>["decisions"]) =>
      decisions
        .filter(({ decision }) => decision.fresh && decision.transition !== null)
        .map(({ entityKey, decision, routes: matched }) => ({
          entityKey,
          transition: decision.transition,
          noticeId: decision.noticeId,
          threadRootId: decision.threadRootId,
          routes: matched.map((route) => route.name),
        }));

    const single = await bucket();
    const expectedNotices = [];
    for (const event of story) {
      expectedNotices.push(...noticesOf((await trackEvents(single, "email", routes, [event])).decisions));
    }
    const expected = await contents(single);
    assert.deepEqual(
      expectedNotices.map((notice) => notice.transition),
      [
        ...["started", "succeeded", "started"],
        ...["failed", "failed", "failed", "still_failing", "still_failing", "fixed", "fixed"],
      ],
      "the story itself decides what it should",
    );

    for (const size of [story.length, 4]) {
      const batched = await bucket();
      const notices = [];
      for (const chunk of chunks(story, size)) {
        notices.push(...noticesOf((await trackEvents(batched, "email", routes, chunk)).decisions));
      }
      assert.deepEqual(notices, expectedNotices, `notices, batches of ${size}`);
      assert.deepEqual(await contents(batched), expected, `state, batches of ${size}`);
    }
    // the same with the caches a consumer keeps (what it last wrote is not read again)
    for (const size of [1, 4, story.length]) {
      const cached = await bucket();
      const caches = trackCaches();
      const notices = [];
      for (const chunk of chunks(story, size)) {
        notices.push(...noticesOf((await trackEvents(cached, "email", routes, chunk, { caches })).decisions));
      }
      assert.deepEqual(notices, expectedNotices, `notices, cached, batches of ${size}`);
      assert.deepEqual(await contents(cached), expected, `state, cached, batches of ${size}`);
    }
  });

  test("notify: a batch reports each touched record once, changed only when it learnt something", async () => {
    const kv = await bucket();
    const caches = trackCaches();
    const first = await trackEvents(kv, "email", routes, story, { caches });
    const keys = first.records.map(({ record }) => record.key);
    assert.equal(new Set(keys).size, keys.length);
    assert.ok(first.records.every(({ changed }) => changed));
    const again = await trackEvents(kv, "email", routes, story, { caches });
    assert.ok(
      again.records.every(({ changed }) => !changed),
      "a redelivered batch changes nothing",
    );
    assert.ok(again.decisions.every(({ decision }) => !decision.fresh));
  });

  test("notify: a replica whose cached lane is stale replays the decision another replica made", async () => {
    const kv = await bucket();
    const [a, b] = [trackCaches(), trackCaches()];
    const start = buildEvent({ ...main, runId: "301", status: "running", at: at(1) });
    const failure = buildEvent({ ...main, runId: "301", status: "failure", at: at(2) });
    // b caches the lane at the run's start; a then decides the failure
    await trackEvents(kv, "email", routes, [start], { caches: b });
    const first = await trackEvents(kv, "email", routes, [failure], { caches: a });
    const decided = first.decisions.find(({ event }) => event === failure)?.decision;
    assert.equal(decided?.transition, "failed");
    assert.equal(decided.fresh, true);
    // the failure redelivered to b: from its cache it looks new, the bucket says otherwise
    const again = await trackEvents(kv, "email", routes, [failure], { caches: b });
    const replayed = again.decisions.find(({ event }) => event === failure)?.decision;
    assert.deepEqual(replayed, { ...decided, fresh: false });
  });
});
