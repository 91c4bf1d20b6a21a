import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { settleAll } from "../../src/bus/batch.ts";

describe("settleAll", () => {
  it("returns results in order, never running more than the limit at once", async () => {
    let running = 0;
    let most = 0;
    const results = await settleAll(
      [30, 5, 20, 1, 10, 2],
      async (ms) => {
        running += 1;
        most = Math.max(most, running);
        await sleep(ms);
        running -= 1;
        return ms * 2;
      },
      2,
    );
    assert.deepEqual(results, [60, 10, 40, 2, 20, 4]);
    assert.equal(most, 2);
  });

  it("on a failure starts nothing new and throws only once the running work has finished", async () => {
    const started: number[] = [];
    let finished = 0;
    const outcome = settleAll(
      [1, 2, 3, 4, 5],
      async (n) => {
        started.push(n);
        if (n === 1) throw new Error("first fails");
        await sleep(20);
        finished += 1;
        return n;
      },
      2,
    );
    await assert.rejects(outcome, /first fails/);
    assert.deepEqual(started, [1, 2], "no item after the failure was started");
    assert.equal(finished, 1, "the item already running finished before the rejection");
  });
});
