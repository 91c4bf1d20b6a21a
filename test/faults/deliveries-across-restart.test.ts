import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats, startRedis, type TestServer } from "../helpers/servers.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { workflowJob, workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";
import { slackByRun } from "./burst.ts";

const CHANNEL = "CRESTART";

interface Setup {
  readonly nats: TestServer;
  readonly redis: TestServer;
  readonly slack: SlackServer;
  readonly env: Record<string, string>;
  dispose(): Promise<void>;
}

/** One failure route in Slack, with its thread reply: a delivery of two calls. */
async function setUp(config: string): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-restart-"));
  writeFileSync(
    join(dir, "config.yaml"),
    `${config}
routes:
  - { name: failures, match: { kinds: [pipeline] }, on: [failed], slack: { channel: ${CHANNEL}, mentionAuthor: false } }
`,
  );
  const nats = await startNats();
  const redis = await startRedis();
  const slack = await startSlackServer();
  return {
    nats,
    redis,
    slack,
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: "xoxb-restart",
      SLACK_API_URL: slack.apiUrl,
      BUILDCAST_CONFIG: join(dir, "config.yaml"),
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
    },
    async dispose() {
      await slack.close();
      await redis.dispose();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A run whose job failed, then the run: its notice is a message and a thread reply naming the job. */
async function postFailure(url: string, runId: number): Promise<void> {
  const where = { branch: `restart-${runId}`, repository: "acme/restart" };
  const job = await postGithub(
    url,
    "workflow_job",
    workflowJob(runId, runId * 10 + 1, { ...where, status: "completed", conclusion: "failure", at: 5 }),
  );
  assert.equal(job.status, 202, JSON.stringify(job.body));
  const run = await postGithub(
    url,
    "workflow_run",
    workflowRun({ runId, ...where, status: "completed", conclusion: "failure", at: 10 }),
  );
  assert.equal(run.status, 202, JSON.stringify(run.body));
}

/** The Slack deliveries bullmq holds: active (in a worker's hands, or a dead one's), waiting or delayed. */
async function slackJobs(redisUrl: string): Promise<{ active: number; open: number }> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(QUEUE_NAMES.slack, { connection, prefix: "buildcast" });
  try {
    const counts = await queue.getJobCounts("active", "waiting", "delayed", "prioritized");
    return { active: counts.active ?? 0, open: Object.values(counts).reduce((sum, n) => sum + n, 0) };
  } finally {
    await queue.close();
    await connection.quit().catch(() => undefined);
  }
}

/**
 * Resolves once the run has its message and thread reply in the channel and no Slack
 * delivery is left in the queue; how long after `since` that was.
 */
async function deliveredAfter(setup: Setup, runId: number, since: number, timeoutMs: number) {
  await eventually(
    async () => {
      const run = slackByRun(setup.slack, CHANNEL).get(runId);
      if (run === undefined || run.posts.length === 0 || run.replies.length === 0) return false;
      return (await slackJobs(setup.redis.url)).open === 0;
    },
    `run ${runId}'s message and thread reply, and an idle Slack queue`,
    timeoutMs,
  );
  return Date.now() - since;
}

/** SIGTERM once the first chat.postMessage reached Slack; the exit code, how long it took, what it left active. */
async function terminateMidDelivery(gateway: GatewayProcess, setup: Setup) {
  await eventually(
    () => setup.slack.calls.some((call) => call.method === "chat.postMessage"),
    "the first post",
  );
  const stopping = Date.now();
  const code = await gateway.terminate();
  const stopMs = Date.now() - stopping;
  const { active } = await slackJobs(setup.redis.url);
  console.log(
    `SIGTERM mid-delivery: exit code ${code} after ${stopMs} ms; ${active} Slack deliveries left active`,
  );
  return { code, stopMs, active };
}

test(
  "SIGTERM while a slow Slack delivery is half done: it stops after the call in flight, and the next process finishes it at once, posting nothing twice",
  { timeout: 120_000 },
  async () => {
    // each Slack call takes 4 s; the delivery needs two (the message, then its thread reply),
    // longer than the 6 s of grace
    const setup = await setUp("server: { shutdownGrace: 6s }\nnotify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 4000);
      slack.delayNext("chat.postMessage", 4000);
      const runId = 8_100_000;
      await postFailure(gateway.url, runId);
      const stopped = await terminateMidDelivery(gateway, setup);
      const output = gateway.output();

      gateway = await startGatewayProcess(env);
      const restarted = Date.now();
      // bullmq gives a job a dead worker held back only once its 30 s lock has expired
      const tookMs = await deliveredAfter(setup, runId, restarted, 90_000);
      await sleep(1500);
      const run = slackByRun(slack, CHANNEL).get(runId);
      const replyAt = (run?.replies[0]?.at ?? 0) - restarted;
      console.log(
        `the delivery was done ${tookMs} ms after the next process was ready (its thread reply posted at ${replyAt} ms): ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      assert.equal(stopped.code, 0, output);
      assert.ok(stopped.stopMs < 5500, `stopped after ${stopped.stopMs} ms`);
      assert.equal(stopped.active, 0, "no delivery left active for bullmq's stalled-job check");
      assert.ok(replyAt > 0, "the thread reply was left to the next process");
      assert.ok(tookMs < 15_000, `the delivery was done ${tookMs} ms after the restart`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);

test(
  "SIGTERM while one Slack call outlasts the grace: the delivery is handed back to wait before the exit, and the next process adopts the post and finishes",
  { timeout: 120_000 },
  async () => {
    // Slack takes the post at once but answers only after 8 s, past the 4 s of grace
    const setup = await setUp("server: { shutdownGrace: 4s }\nnotify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 8000);
      const runId = 8_100_001;
      await postFailure(gateway.url, runId);
      const stopped = await terminateMidDelivery(gateway, setup);
      const output = gateway.output();

      gateway = await startGatewayProcess(env);
      const restarted = Date.now();
      const tookMs = await deliveredAfter(setup, runId, restarted, 90_000);
      await sleep(1500);
      const run = slackByRun(slack, CHANNEL).get(runId);
      console.log(
        `the delivery was done ${tookMs} ms after the next process was ready: ${run?.posts.length} posts, ${run?.updates.length} updates, ${run?.replies.length} thread replies, ${slack.accepted("conversations.history").length} history look-ups`,
      );

      assert.equal(stopped.code, 0, output);
      assert.equal(stopped.active, 0, "no delivery left active for bullmq's stalled-job check");
      assert.ok(tookMs < 15_000, `the delivery was done ${tookMs} ms after the restart`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);
