import assert from "node:assert/strict";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { slackByRun } from "./burst.ts";
import { CHANNEL, deliveredAfter, postFailure, setUp } from "./restart.ts";

test(
  "SIGKILL in the middle of a Slack delivery: the next process takes it up once its lock has expired, and posts nothing twice",
  { timeout: 120_000 },
  async () => {
    const setup = await setUp("notify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 3000);
      const runId = 8_100_002;
      await postFailure(gateway.url, runId);
      await eventually(
        () => slack.calls.some((call) => call.method === "chat.postMessage"),
        "the first post",
      );
      const killed = Date.now();
      await gateway.kill();
      gateway = await startGatewayProcess(env);
      const restartMs = Date.now() - killed;
      // the dead worker's lock (bullmq's lockDuration, 30 s from when it took the job) must
      // expire first; then a stalled-job check must see the job twice without it
      const tookMs = await deliveredAfter(setup, runId, killed, 100_000);
      await sleep(1500);
      const run = slackByRun(slack, CHANNEL).get(runId);
      console.log(
        `SIGKILL mid-delivery, next process ready after ${restartMs} ms: the delivery was done ${tookMs} ms after the kill; ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      assert.ok(tookMs < 45_000, `the delivery was done ${tookMs} ms after the kill`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);

test(
  "SIGTERM during a Redis outage with a Slack delivery in hand: once Redis is back, the next process takes it up when its lock has expired, posting nothing twice",
  { timeout: 120_000 },
  async () => {
    // with its AOF, Redis keeps the active delivery (and its lock) over the restart
    const setup = await setUp("notify: { slack: { minInterval: 100 } }", { appendOnly: true });
    const { slack, env, redis } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 3000);
      const runId = 8_100_003;
      await postFailure(gateway.url, runId);
      await eventually(
        () => slack.calls.some((call) => call.method === "chat.postMessage"),
        "the first post",
      );
      const taken = Date.now();
      await redis.stop();
      const code = await gateway.terminate();
      await redis.restart();
      gateway = await startGatewayProcess(env);
      const restartMs = Date.now() - taken;
      const tookMs = await deliveredAfter(setup, runId, taken, 100_000);
      await sleep(1500);
      const run = slackByRun(slack, CHANNEL).get(runId);
      console.log(
        `SIGTERM during a Redis outage exited ${code}; next process ready ${restartMs} ms after the delivery began: it was done ${tookMs} ms after it began; ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      // its lock (30 s from when the delivery began) must expire first
      assert.ok(tookMs < 45_000, `the delivery was done ${tookMs} ms after it began`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);
