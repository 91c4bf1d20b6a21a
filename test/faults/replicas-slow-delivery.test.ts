import assert from "node:assert/strict";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { sleep } from "../helpers/poll.ts";
import { slackByRun } from "./burst.ts";
import { CHANNEL, deliveredAfter, firstPostReached, postFailure, setUp } from "./restart.ts";

// bullmq's stalled-job check runs every 5 s in each replica (STALLED_CHECK_INTERVAL_MS), far
// more often than a delivery's 30 s lock lasts: the lock alone must keep a live replica's
// delivery its own
test(
  "two replicas, a Slack post answered after 40 s: the other replica's stalled-job checks never take the delivery, and it is posted once",
  { timeout: 120_000 },
  async () => {
    const setup = await setUp("notify: { slack: { minInterval: 100, timeout: 60s } }");
    const { slack, env } = setup;
    const replicas: GatewayProcess[] = [];
    try {
      replicas.push(await startGatewayProcess(env), await startGatewayProcess(env));
      slack.delayNext("chat.postMessage", 40_000);
      const runId = 8_100_005;
      const began = Date.now();
      await postFailure(replicas[0]?.url ?? "", runId);
      await firstPostReached(setup);
      const tookMs = await deliveredAfter(setup, runId, began, 70_000);
      await sleep(1500);
      const posts = slack.calls.filter(
        (call) => call.method === "chat.postMessage" && call.args.thread_ts === undefined,
      );
      const run = slackByRun(slack, CHANNEL).get(runId);
      console.log(
        `the delivery was done ${tookMs} ms after the webhook: ${posts.length} chat.postMessage calls for the message, ${run?.replies.length} thread replies, ${slack.calls.filter((call) => call.method === "conversations.history").length} history look-ups`,
      );

      assert.ok(tookMs > 40_000, `done after ${tookMs} ms`);
      // a second delivery of the message would have looked for the first one's claimed post
      assert.equal(slack.calls.filter((call) => call.method === "conversations.history").length, 0);
      assert.equal(posts.length, 1, "the message was posted by one delivery");
      assert.equal(run?.replies.length, 1);
    } finally {
      await Promise.all(replicas.map((replica) => replica.terminate().catch(() => null)));
      await setup.dispose();
    }
  },
);
