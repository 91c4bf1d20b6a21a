import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import {
  WEBHOOKS_PER_RUN,
  burstOrder,
  countStream,
  metricSum,
  planRuns,
  postBurst,
  statusOfRuns,
  storedCount,
  waitForFinalSlack,
  waitForIdle,
  waitUntil,
  wrongStatuses,
} from "./burst.ts";

const RUNS = 200;
const CHANNEL = "CFAULTS";
const ALL_TRANSITIONS = ["started", "succeeded", "failed", "still_failing", "fixed", "canceled"];

test(
  "NATS restarted in the middle of a 2,000-event burst: every event stored once, every run's status and Slack message final",
  { timeout: 150_000 },
  async () => {
    const started = Date.now();
    const slack = await startSlackServer();
    const gateway = await startTestGateway({
      env: { SLACK_BOT_TOKEN: "xoxb-faults", SLACK_API_URL: slack.apiUrl },
      overrides: {
        routes: [
          { name: "every-run", on: ALL_TRANSITIONS, slack: { channel: CHANNEL, mentionAuthor: false } },
        ],
        notify: {
          slack: { apiUrl: slack.apiUrl, minInterval: 100 },
          delivery: { attempts: 20, backoff: 200, concurrency: 16 },
        },
        log: { level: "warn" },
      },
    });
    try {
      const runs = planRuns(RUNS, 2_000_000, 3);
      const webhooks = burstOrder(runs);
      assert.equal(webhooks.length, RUNS * WEBHOOKS_PER_RUN);

      let restart: Promise<void> | undefined;
      const burst = await postBurst(webhooks, {
        targets: () => [gateway.url],
        concurrency: 24,
        onProgress: (done) => {
          // NATS goes away with 40% of the burst answered and comes back while it goes on
          if (done === Math.floor(webhooks.length * 0.4)) restart = gateway.nats.restart();
        },
      });
      await restart;
      console.log(
        `sent ${burst.sent} webhooks for ${RUNS} runs (${runs.filter((r) => r.fails).length} failing), NATS restarted after ${Math.floor(webhooks.length * 0.4)}: ${burst.answered} answered 202, ${burst.ids.size} distinct events`,
      );
      assert.equal(burst.ids.size, webhooks.length, "one event per webhook");
      const spooled = await metricSum(gateway.url, "buildcast_webhooks_total", { outcome: "spooled" });
      console.log(`${spooled} webhooks went to the spool while NATS was away`);

      await waitUntil(
        async () => (await storedCount(gateway.nats.url)) >= burst.ids.size,
        () => "the spool to flush into the stream",
        60_000,
      );
      const stream = await countStream(gateway.nats.url, burst.ids);
      console.log(
        `stream: ${stream.stored} messages, ${stream.distinct} distinct, ${stream.missing} missing, ${stream.doubled} doubled`,
      );

      // the work is done when every run's message shows its final state and no delivery is left
      const finalRuns = await waitForFinalSlack(slack, CHANNEL, runs, 90_000);
      await waitForIdle(gateway.nats.url, gateway.redis.url, 70_000);
      const verdict = finalRuns();
      const statuses = await statusOfRuns(gateway.url, runs);
      const wrong = wrongStatuses(statuses, runs);
      console.log(
        `Slack: ${verdict.runsWithMessage} runs with a message, ${verdict.posts} posts, ${verdict.updates} updates, ${verdict.replies} thread replies; ${verdict.missing.length} missing, ${verdict.doubled.length} doubled, ${verdict.wrongFinal.length} not final; ${slack.calls.length - slack.accepted().length} calls refused`,
      );
      console.log(`status API: ${RUNS - wrong.length} of ${RUNS} runs final and correct`);
      const retries = await metricSum(gateway.url, "buildcast_consumer_messages_total", { outcome: "retry" });
      const deliveryRetries = await metricSum(gateway.url, "buildcast_deliveries_total", {
        outcome: "retry",
      });
      console.log(`handler retries: ${retries}, Slack delivery retries: ${deliveryRetries}`);
      console.log(`took ${Math.round((Date.now() - started) / 1000)} s`);

      assert.equal(stream.stored, webhooks.length);
      assert.equal(stream.missing, 0);
      assert.equal(stream.doubled, 0);
      assert.deepEqual(verdict.missing, []);
      assert.deepEqual(verdict.doubled, []);
      assert.deepEqual(verdict.wrongFinal, []);
      assert.deepEqual(verdict.wrongReplies, []);
      assert.equal(verdict.posts, RUNS);
      assert.deepEqual(wrong, []);
    } finally {
      await gateway.close();
      await slack.close();
    }
  },
);
