import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { postFailedRun } from "../helpers/synthetic-webhooks.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";
import {
  judgeMails,
  judgeSlack,
  metricSum,
  planRuns,
  postBurst,
  runWebhooks,
  slackByRun,
  waitForIdle,
  waitUntil,
} from "./burst.ts";

const RUNS = 150;
const CHANNEL = "CFAILURES";

// buildcast's promise (docs/operations.md): Redis keeps queued deliveries with AOF on, and
// while Redis is away events wait on the stream. So Redis restarts with its AOF here.
test(
  "Redis (AOF on) restarted in the middle of deliveries: every failure's Slack message, thread reply and e-mail delivered exactly once",
  { timeout: 150_000 },
  async () => {
    const started = Date.now();
    const redis = await startRedis(undefined, { appendOnly: true });
    const slack = await startSlackServer();
    const smtp = await startSmtpSink();
    const gateway = await startTestGateway({
      redis,
      env: { SLACK_BOT_TOKEN: "xoxb-faults", SLACK_API_URL: slack.apiUrl, SMTP_URL: smtp.url },
      overrides: {
        routes: [
          {
            name: "failures",
            on: ["failed", "still_failing", "fixed"],
            slack: { channel: CHANNEL, mentionAuthor: false },
            email: { to: ["team@example.com"] },
          },
        ],
        notify: {
          slack: { apiUrl: slack.apiUrl, minInterval: 100 },
          delivery: { attempts: 20, backoff: 200, concurrency: 8 },
        },
        log: { level: "warn" },
      },
    });
    try {
      const runs = planRuns(RUNS, 3_000_000, 2);
      const failing = runs.filter((run) => run.fails);
      // run by run, so failures (and their notices) come all through the burst
      const webhooks = runs.flatMap(runWebhooks);

      let restartedAt: { mails: number; posts: number } | undefined;
      const restart = (async () => {
        await waitUntil(
          () => smtp.mails.length >= 15,
          () => "the first deliveries",
          60_000,
        );
        restartedAt = { mails: smtp.mails.length, posts: slack.accepted("chat.postMessage").length };
        await redis.restart();
      })();
      const burst = await postBurst(webhooks, { targets: () => [gateway.url], concurrency: 16 });
      await restart;
      console.log(
        `sent ${burst.sent} webhooks for ${RUNS} runs, ${failing.length} failing: ${burst.answered} answered 202; Redis restarted after ${restartedAt?.mails} mails and ${restartedAt?.posts} Slack posts`,
      );

      await waitUntil(
        () => {
          const slackVerdict = judgeSlack(slackByRun(slack, CHANNEL), failing, { threadReplies: true });
          return (
            slackVerdict.missing.length === 0 &&
            slackVerdict.wrongReplies.length === 0 &&
            judgeMails(smtp.mails, failing).missing.length === 0
          );
        },
        () => `every failure's notices: ${smtp.mails.length} mails, ${slack.accepted().length} Slack calls`,
        90_000,
      );
      await waitForIdle(gateway.nats.url, redis.url, 70_000);
      const slackVerdict = judgeSlack(slackByRun(slack, CHANNEL), failing, { threadReplies: true });
      const mailVerdict = judgeMails(smtp.mails, failing);
      const retries = await metricSum(gateway.url, "buildcast_consumer_messages_total", { outcome: "retry" });
      const deliveryRetries = await metricSum(gateway.url, "buildcast_deliveries_total", {
        outcome: "retry",
      });
      console.log(
        `Slack: ${slackVerdict.posts} posts, ${slackVerdict.replies} thread replies, ${slackVerdict.updates} updates for ${failing.length} failures; ${slackVerdict.missing.length} missing, ${slackVerdict.doubled.length} doubled, ${slackVerdict.wrongFinal.length} not final`,
      );
      console.log(
        `e-mail: ${smtp.mails.length} mails for ${failing.length} failures; ${mailVerdict.missing.length} missing, ${mailVerdict.doubled.length} doubled, ${mailVerdict.unexpected.length} unexpected`,
      );
      console.log(
        `events that waited on the stream while Redis was away: ${retries} handler retries; delivery retries: ${deliveryRetries}`,
      );
      console.log(`took ${Math.round((Date.now() - started) / 1000)} s`);

      assert.deepEqual(slackVerdict.missing, []);
      assert.deepEqual(slackVerdict.doubled, []);
      assert.deepEqual(slackVerdict.wrongFinal, []);
      assert.deepEqual(slackVerdict.wrongReplies, []);
      assert.equal(slackVerdict.posts, failing.length);
      assert.deepEqual(mailVerdict, { missing: [], doubled: [], unexpected: [] });
      assert.equal(smtp.mails.length, failing.length);
    } finally {
      await gateway.close();
      await redis.dispose();
      await slack.close();
      await smtp.close();
    }
  },
);

test(
  "SIGTERM during a Redis outage: the gateway exits 0 at once, and the notices it held are sent once by the next start",
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-sigterm-"));
    writeFileSync(
      join(dir, "config.yaml"),
      `routes:\n  - { name: failures, on: [failed], slack: { channel: ${CHANNEL}, mentionAuthor: false } }\n`,
    );
    const nats = await startNats();
    const redis = await startRedis();
    const slack = await startSlackServer();
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: "xoxb-faults",
      SLACK_API_URL: slack.apiUrl,
      SMTP_URL: "smtp://127.0.0.1:1",
      BUILDCAST_CONFIG: join(dir, "config.yaml"),
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
    };
    let gateway = await startGatewayProcess(env);
    try {
      await redis.stop();
      const runIds = [4_300_000, 4_300_001, 4_300_002];
      for (const [i, runId] of runIds.entries()) {
        const result = await postFailedRun(gateway.url, runId, {
          repository: "acme/redis-sigterm",
          branch: `sigterm-${i}`,
        });
        assert.equal(result.status, 202, JSON.stringify(result.body));
      }
      // the notify consumer now holds the events, waiting for Redis
      await sleep(1500);
      const started = Date.now();
      assert.equal(await gateway.terminate(), 0, gateway.output());
      const tookMs = Date.now() - started;
      console.log(`shutdown during the Redis outage took ${tookMs} ms`);
      assert.ok(tookMs < 5000, `shutdown took ${tookMs} ms`);
      assert.equal(slack.accepted("chat.postMessage").length, 0);

      await redis.restart();
      gateway = await startGatewayProcess(env, gateway.port);
      await eventually(
        () => slackByRun(slack, CHANNEL).size === runIds.length,
        "every held notice sent",
        60_000,
      );
      await sleep(2000);
      for (const [runId, messages] of slackByRun(slack, CHANNEL))
        assert.equal(messages.posts.length, 1, `posts for run ${runId}`);
      assert.equal(slack.accepted("chat.postMessage").length, runIds.length);
    } finally {
      await gateway.terminate().catch(() => null);
      await slack.close();
      await redis.dispose();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
