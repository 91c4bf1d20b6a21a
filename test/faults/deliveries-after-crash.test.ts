import assert from "node:assert/strict";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { slackByRun } from "./burst.ts";
import { CHANNEL, firstPostReached, postFailure, setUp, slackJobs } from "./restart.ts";

test(
  "SIGKILL in the middle of a Slack delivery, twice: each next process takes it up once its lock has expired, posts nothing twice, and makes no dead letter",
  { timeout: 150_000 },
  async () => {
    const setup = await setUp("notify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 3000);
      const runId = 8_100_002;
      await postFailure(gateway.url, runId);
      await firstPostReached(setup);
      const killed = Date.now();
      await gateway.kill();
      // the next one to take it looks for the post the dead one claimed, slowly, and dies too
      slack.delayNext("conversations.history", 3000);
      gateway = await startGatewayProcess(env);
      const restartMs = Date.now() - killed;
      // the dead worker's lock (bullmq's lockDuration, 30 s from when it took the job) must
      // expire first; then a stalled-job check must see the job without it
      await eventually(
        () => slack.calls.some((call) => call.method === "conversations.history"),
        "the second process's look for the post",
        60_000,
      );
      const retriedMs = Date.now() - killed;
      const killedAgain = Date.now();
      await gateway.kill();
      gateway = await startGatewayProcess(env);
      // (bullmq fails a job that stalled more than maxStalledCount times: a dead letter)
      await eventually(
        async () => {
          const jobs = await slackJobs(setup.redis.url);
          const replies = slackByRun(slack, CHANNEL).get(runId)?.replies.length ?? 0;
          return jobs.deadLetters > 0 || (replies > 0 && jobs.open === 0);
        },
        `run ${runId}'s thread reply, or a dead letter`,
        70_000,
      );
      const tookMs = Date.now() - killedAgain;
      await sleep(1500);
      const run = slackByRun(slack, CHANNEL).get(runId);
      const { deadLetters } = await slackJobs(setup.redis.url);
      console.log(
        `SIGKILL mid-delivery, next process ready after ${restartMs} ms: it took the delivery up ${retriedMs} ms after the kill; killed too, the next one finished it ${tookMs} ms after that kill; ${run?.posts.length} posts, ${run?.replies.length} thread replies, ${deadLetters} dead letters`,
      );

      assert.ok(retriedMs < 45_000, `the delivery was taken up ${retriedMs} ms after the kill`);
      assert.equal(deadLetters, 0);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);
