/**
 * Helpers for the tests of deliveries a gateway had in hand when it stopped or died: a failure route
 * in Slack (a message and a thread reply, two calls), and what bullmq holds.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import { type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats, startRedis, type TestServer } from "../helpers/servers.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { workflowJob, workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";
import { slackByRun } from "./burst.ts";

export const CHANNEL = "CRESTART";

export interface Setup {
  readonly nats: TestServer;
  readonly redis: TestServer;
  readonly slack: SlackServer;
  readonly env: Record<string, string>;
  dispose(): Promise<void>;
}

const SLACK_ROUTE = `{ name: failures, match: { kinds: [pipeline] }, on: [failed], slack: { channel: ${CHANNEL}, mentionAuthor: false } }`;

/**
 * Servers and a configuration for a gateway process: by default one failure route in Slack,
 * with its thread reply (a delivery of two calls); `route` replaces it.
 */
export async function setUp(
  config: string,
  options: { appendOnly?: boolean; route?: string } = {},
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-restart-"));
  writeFileSync(join(dir, "config.yaml"), `${config}\nroutes:\n  - ${options.route ?? SLACK_ROUTE}\n`);
  const nats = await startNats();
  const redis = await startRedis(undefined, { appendOnly: options.appendOnly ?? false });
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
export async function postFailure(url: string, runId: number): Promise<void> {
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

/** The Slack deliveries bullmq holds: active (in a worker's hands, or a dead one's), waiting or delayed; and its dead letters. */
export async function slackJobs(
  redisUrl: string,
  queueName: string = QUEUE_NAMES.slack,
): Promise<{ active: number; open: number; deadLetters: number }> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(queueName, { connection, prefix: "buildcast" });
  try {
    const counts = await queue.getJobCounts("active", "waiting", "delayed", "prioritized");
    return {
      active: counts.active ?? 0,
      open: Object.values(counts).reduce((sum, n) => sum + n, 0),
      deadLetters: await queue.getFailedCount(),
    };
  } finally {
    await queue.close();
    await connection.quit().catch(() => undefined);
  }
}

/**
 * Resolves once the run has its message and thread reply in the channel and no Slack
 * delivery is left in the queue; how long after `since` that was.
 */
export async function deliveredAfter(setup: Setup, runId: number, since: number, timeoutMs: number) {
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

/**
 * deliveredAfter, then a moment for a second post or reply that should not come: how long
 * the delivery took after `since`, and what Slack got for the run.
 */
export async function settledRun(setup: Setup, runId: number, since: number, timeoutMs: number) {
  const tookMs = await deliveredAfter(setup, runId, since, timeoutMs);
  await sleep(1500);
  return { tookMs, run: slackByRun(setup.slack, CHANNEL).get(runId) };
}

/** Resolves once the first chat.postMessage reached the Slack server (a delivery is under way). */
export async function firstPostReached(setup: Pick<Setup, "slack">): Promise<void> {
  await eventually(
    () => setup.slack.calls.some((call) => call.method === "chat.postMessage"),
    "the first post",
  );
}

/** SIGTERM once the first chat.postMessage reached Slack; the exit code, how long it took and when, what it left active. */
export async function terminateMidDelivery(gateway: GatewayProcess, setup: Setup) {
  await firstPostReached(setup);
  const stopping = Date.now();
  const code = await gateway.terminate();
  const exitedAt = Date.now();
  const stopMs = exitedAt - stopping;
  const { active } = await slackJobs(setup.redis.url);
  console.log(
    `SIGTERM mid-delivery: exit code ${code} after ${stopMs} ms; ${active} Slack deliveries left active`,
  );
  return { code, stopMs, exitedAt, active };
}

/** The e-mail deliveries bullmq holds (as slackJobs). */
export const emailJobs = (redisUrl: string) => slackJobs(redisUrl, QUEUE_NAMES.email);
