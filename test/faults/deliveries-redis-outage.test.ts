import assert from "node:assert/strict";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { sleep } from "../helpers/poll.ts";
import { firstPostReached, postFailure, settledRun, setUp } from "./restart.ts";

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
      await firstPostReached(setup);
      const taken = Date.now();
      await redis.stop();
      const code = await gateway.terminate();
      if (code !== 0) console.log(gateway.output().split("\n").slice(-15).join("\n"));
      await redis.restart();
      gateway = await startGatewayProcess(env);
      const restartMs = Date.now() - taken;
      const { tookMs, run } = await settledRun(setup, runId, taken, 100_000);
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

test(
  "Redis going away while the gateway stops with a Slack delivery in hand: it stops without waiting out its grace, and the next process sends the notice once",
  { timeout: 120_000 },
  async () => {
    const setup = await setUp("notify: { slack: { minInterval: 100 } }", { appendOnly: true });
    const { slack, env, redis } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 3000);
      const runId = 8_100_006;
      await postFailure(gateway.url, runId);
      await firstPostReached(setup);
      const taken = Date.now();
      // the shutdown finds Redis there and waits for the delivery; Redis goes away meanwhile
      const exited = gateway.terminate();
      await sleep(500);
      await redis.stop();
      const code = await exited;
      const stopMs = Date.now() - taken;
      if (code !== 0) console.log(gateway.output().split("\n").slice(-15).join("\n"));
      await redis.restart();
      gateway = await startGatewayProcess(env);
      const { tookMs, run } = await settledRun(setup, runId, taken, 100_000);
      console.log(
        `Redis stopped 0.5 s into the shutdown: exit code ${code} after ${stopMs} ms; the next process finished the delivery ${tookMs} ms after it began; ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      assert.equal(code, 0);
      assert.ok(stopMs < 10_000, `stopped after ${stopMs} ms`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);
