import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import {
  burstOrder,
  countStream,
  metricSum,
  planRuns,
  postBurst,
  slackByRun,
  statusOfRuns,
  waitForFinalSlack,
  waitForIdle,
  wrongStatuses,
} from "./burst.ts";

const RUNS = 200;
const CHANNEL = "CFAULTS";

// ack_wait is short so the killed replica's unacked events come back within the test's time
const CONFIG = `
nats:
  consumer: { ackWait: 10000 }
notify:
  slack: { minInterval: 100 }
  delivery: { attempts: 20, backoff: 200, concurrency: 16 }
routes:
  - name: every-run
    on: [started, succeeded, failed, still_failing, fixed, canceled]
    slack: { channel: ${CHANNEL}, mentionAuthor: false }
`;

test(
  "two gateway replicas, one SIGKILLed mid-burst of 200 runs: one Slack message per run showing its final state, status store correct",
  { timeout: 170_000 },
  async () => {
    const started = Date.now();
    const nats = await startNats();
    const redis = await startRedis();
    const slack = await startSlackServer();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-replicas-"));
    writeFileSync(join(dir, "config.yaml"), CONFIG);
    const env = (name: string) => ({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_CONFIG: join(dir, "config.yaml"),
      BUILDCAST_SPOOL_DIR: join(dir, `spool-${name}`),
      SLACK_BOT_TOKEN: "xoxb-faults",
      SLACK_API_URL: slack.apiUrl,
      LOG_LEVEL: "warn",
    });
    const replicas: GatewayProcess[] = [];
    try {
      replicas.push(await startGatewayProcess(env("a")), await startGatewayProcess(env("b")));
      const [survivor, victim] = replicas as [GatewayProcess, GatewayProcess];
      const runs = planRuns(RUNS, 4_000_000, 3);
      const webhooks = burstOrder(runs);

      let alive = [survivor.url, victim.url];
      let kill: Promise<void> | undefined;
      let slackCallsAtKill = 0;
      let killedAt = 0;
      const burst = await postBurst(webhooks, {
        targets: () => alive,
        concurrency: 24,
        onProgress: (done) => {
          if (done !== Math.floor(webhooks.length * 0.4)) return;
          slackCallsAtKill = slack.calls.length;
          killedAt = Date.now();
          kill = victim.kill();
          alive = [survivor.url];
        },
      });
      await kill;
      console.log(
        `sent ${burst.sent} webhooks for ${RUNS} runs to 2 replicas, replica b SIGKILLed after ${Math.floor(webhooks.length * 0.4)} (${slackCallsAtKill} Slack calls made by then): ${burst.answered} answered 202, ${burst.resent} re-sent after a dropped connection, ${burst.ids.size} distinct events`,
      );
      assert.equal(burst.ids.size, webhooks.length, "one event per webhook");

      const stream = await countStream(nats.url, burst.ids);
      console.log(
        `stream: ${stream.stored} messages, ${stream.distinct} distinct, ${stream.missing} missing, ${stream.doubled} doubled`,
      );

      // bullmq gives the killed replica's active jobs back after their lock expires (30 s)
      const finalRuns = await waitForFinalSlack(slack, CHANNEL, runs, 110_000);
      await waitForIdle(nats.url, redis.url, 70_000);
      const verdict = finalRuns();
      const wrong = wrongStatuses(await statusOfRuns(survivor.url, runs), runs);
      const retries = await metricSum(survivor.url, "buildcast_consumer_messages_total", {
        outcome: "retry",
      });
      console.log(
        `Slack: ${verdict.runsWithMessage} runs with a message, ${verdict.posts} posts, ${verdict.updates} updates, ${verdict.replies} thread replies; ${verdict.missing.length} missing, ${verdict.doubled.length} doubled, ${verdict.wrongFinal.length} not final, ${verdict.wrongReplies.length} with a wrong number of thread replies; ${slack.accepted("conversations.history").length} history look-ups for posts the killed replica left unconfirmed`,
      );
      console.log(
        `status API of the surviving replica: ${RUNS - wrong.length} of ${RUNS} runs final and correct; its handler retries: ${retries}`,
      );
      const byRun = slackByRun(slack, CHANNEL);
      for (const runId of verdict.doubled) {
        const times = (byRun.get(runId)?.posts ?? []).map((call) => `${call.at - killedAt} ms`);
        console.log(`run ${runId} posted at ${times.join(" and ")} relative to the kill`);
      }
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
      await Promise.all(replicas.map((replica) => replica.terminate().catch(() => null)));
      await slack.close();
      await nats.dispose();
      await redis.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
