import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import type { SlackCall, SlackServer } from "../helpers/slack-server.ts";
import type { SinkMail } from "../helpers/smtp-sink.ts";
import { workflowJob, workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

/** One synthetic run of a burst: its own branch, so each run is its own notification lane. */
export interface PlannedRun {
  readonly runId: number;
  readonly branch: string;
  readonly fails: boolean;
}

export interface Webhook {
  readonly event: "workflow_run" | "workflow_job";
  readonly body: string;
  readonly runId: number;
}

/** `count` runs from `firstRunId`; every `failEvery`-th one fails (0: none fail). */
export function planRuns(count: number, firstRunId: number, failEvery: number): PlannedRun[] {
  return Array.from({ length: count }, (_, i) => ({
    runId: firstRunId + i,
    branch: `fault-${i}`,
    fails: failEvery > 0 && i % failEvery === 0,
  }));
}

export const WEBHOOKS_PER_RUN = 10;

/**
 * The ten webhooks of one run in the order GitHub sends them: queued, in_progress, jobs 1–3
 * started and finished, job 4 finished (failing when the run fails), completed.
 */
export function runWebhooks(run: PlannedRun): Webhook[] {
  const common = { branch: run.branch };
  const jobId = (k: number) => run.runId * 10 + k;
  const job = (k: number, status: "in_progress" | "completed", at: number, fails = false): Webhook => ({
    event: "workflow_job",
    runId: run.runId,
    body: workflowJob(run.runId, jobId(k), {
      ...common,
      status,
      at,
      ...(status === "completed" ? { conclusion: fails ? "failure" : "success" } : {}),
    }),
  });
  const state = (status: "queued" | "in_progress" | "completed", at: number): Webhook => ({
    event: "workflow_run",
    runId: run.runId,
    body: workflowRun({
      runId: run.runId,
      ...common,
      status,
      at,
      ...(status === "completed" ? { conclusion: run.fails ? "failure" : "success" } : {}),
    }),
  });
  return [
    state("queued", 10),
    state("in_progress", 20),
    job(1, "in_progress", 30),
    job(2, "in_progress", 31),
    job(3, "in_progress", 32),
    job(1, "completed", 40),
    job(2, "completed", 41),
    job(3, "completed", 42),
    job(4, "completed", 50, run.fails),
    state("completed", 100),
  ];
}

/** Step-major order: every run's first webhook, then every run's second, … (a busy CI). */
export function burstOrder(runs: readonly PlannedRun[]): Webhook[] {
  const perRun = runs.map(runWebhooks);
  const out: Webhook[] = [];
  for (let step = 0; step < WEBHOOKS_PER_RUN; step++) {
    for (const hooks of perRun) {
      const hook = hooks[step];
      if (hook) out.push(hook);
    }
  }
  return out;
}

export interface BurstResult {
  readonly sent: number;
  readonly answered: number;
  /** requests that failed at the connection and were sent again (to another replica) */
  readonly resent: number;
  readonly ids: ReadonlySet<string>;
}

/**
 * Posts every webhook, `concurrency` at a time, each to `target(i)`. A request that dies with
 * its connection (a killed replica) is sent again to the next target, as a load balancer
 * would; every webhook must end with 202. `onProgress(done)` runs after each answer.
 */
export async function postBurst(
  webhooks: readonly Webhook[],
  options: {
    readonly targets: () => readonly string[];
    readonly concurrency: number;
    readonly onProgress?: (done: number) => void;
  },
): Promise<BurstResult> {
  const ids = new Set<string>();
  let next = 0;
  let answered = 0;
  let resent = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const hook = webhooks[index];
      if (!hook) return;
      for (let attempt = 0; ; attempt++) {
        const targets = options.targets();
        const url = targets[(index + attempt) % targets.length] ?? "";
        try {
          const result = await postGithub(url, hook.event, hook.body, { delivery: `burst-${index}` });
          assert.equal(result.status, 202, `webhook ${index}: ${JSON.stringify(result.body)}`);
          for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
          answered += 1;
          options.onProgress?.(answered);
          break;
        } catch (error) {
          if (error instanceof assert.AssertionError || attempt >= 20) throw error;
          resent += 1;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { sent: webhooks.length, answered, resent, ids };
}

/** Waits until `check` holds, polling; fails with `what` after `timeoutMs`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface StreamCount {
  readonly stored: number;
  readonly distinct: number;
  readonly missing: number;
  readonly doubled: number;
}

/**
 * Reads the whole stream back, message by message, and counts each expected id. A read that
 * fails (a JetStream cluster electing a new stream leader) is retried for a while.
 */
export async function countStream(natsUrl: string, expected: ReadonlySet<string>): Promise<StreamCount> {
  const nc = await connect({ servers: natsUrl.split(",") });
  try {
    const jsm = await jetstreamManager(nc);
    const {
      messages: stored,
      first_seq: first,
      last_seq: last,
    } = (await jsm.streams.info("BUILD_EVENTS")).state;
    const seen = new Map<string, number>();
    for (let seq = first; stored > 0 && seq <= last; seq++) {
      for (let tries = 0; ; tries++) {
        try {
          const message = await jsm.streams.getMessage("BUILD_EVENTS", { seq });
          if (message) {
            const id = message.json<{ id: string }>().id;
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
          break;
        } catch (error) {
          if (tries >= 40) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    }
    return {
      stored,
      distinct: seen.size,
      missing: [...expected].filter((id) => !seen.has(id)).length,
      doubled: [...seen.values()].filter((n) => n > 1).length,
    };
  } finally {
    await nc.close();
  }
}

/** What Slack holds about one run: its top-level posts, their updates and thread replies. */
export interface RunMessages {
  readonly posts: readonly SlackCall[];
  readonly updates: readonly SlackCall[];
  readonly replies: readonly SlackCall[];
  /** the last accepted post or update: what the channel shows now */
  readonly shown: SlackCall | undefined;
}

/** The run a Slack call is about, from the run URL every rendered message links to. */
export function runIdOf(call: SlackCall): number | null {
  const match = /\/actions\/runs\/(\d+)/.exec(JSON.stringify(call.args.blocks ?? ""));
  return match ? Number(match[1]) : null;
}

/** Groups the calls Slack accepted by run (and optionally only those in one channel). */
export function slackByRun(slack: SlackServer, channel?: string): Map<number, RunMessages> {
  const byRun = new Map<number, { posts: SlackCall[]; updates: SlackCall[]; replies: SlackCall[] }>();
  const shown = new Map<number, SlackCall>();
  for (const call of slack.accepted()) {
    if (channel !== undefined && call.args.channel !== channel) continue;
    const runId = runIdOf(call);
    if (runId === null) continue;
    const entry = byRun.get(runId) ?? { posts: [], updates: [], replies: [] };
    byRun.set(runId, entry);
    if (call.method === "chat.update") entry.updates.push(call);
    else if (call.args.thread_ts !== undefined) entry.replies.push(call);
    else entry.posts.push(call);
    if (call.method === "chat.update" || call.args.thread_ts === undefined) shown.set(runId, call);
  }
  return new Map([...byRun].map(([runId, entry]) => [runId, { ...entry, shown: shown.get(runId) }]));
}

export function headlineOf(call: SlackCall | undefined): string {
  const text = call?.args.text;
  return typeof text === "string" ? (text.split(":")[0] ?? "") : "";
}

export interface SlackVerdict {
  readonly runsWithMessage: number;
  readonly posts: number;
  readonly updates: number;
  readonly replies: number;
  readonly missing: number[];
  readonly doubled: number[];
  readonly wrongFinal: string[];
  readonly wrongReplies: number[];
}

/**
 * Checks every run against what its Slack message must be at the end: exactly one
 * top-level post, updates only of that message, the final headline (Failed/Succeeded),
 * and one failure thread reply for a failing run. `expected` lists the runs that must have
 * a message at all.
 */
export function judgeSlack(
  byRun: ReadonlyMap<number, RunMessages>,
  expected: readonly PlannedRun[],
  options: { readonly threadReplies: boolean },
): SlackVerdict {
  const missing: number[] = [];
  const doubled: number[] = [];
  const wrongFinal: string[] = [];
  const wrongReplies: number[] = [];
  let posts = 0;
  let updates = 0;
  let replies = 0;
  for (const messages of byRun.values()) {
    posts += messages.posts.length;
    updates += messages.updates.length;
    replies += messages.replies.length;
  }
  for (const run of expected) {
    const messages = byRun.get(run.runId);
    if (!messages || messages.posts.length === 0) {
      missing.push(run.runId);
      continue;
    }
    if (messages.posts.length > 1) doubled.push(run.runId);
    const tsSet = new Set(messages.updates.map((call) => String(call.args.ts)));
    if (tsSet.size > 1) doubled.push(run.runId);
    const want = run.fails ? "Failed" : "Succeeded";
    const shown = headlineOf(messages.shown);
    if (shown !== want) wrongFinal.push(`${run.runId}: shows ${shown}, want ${want}`);
    const wantReplies = options.threadReplies && run.fails ? 1 : 0;
    if (messages.replies.length !== wantReplies) wrongReplies.push(run.runId);
  }
  const expectedIds = new Set(expected.map((run) => run.runId));
  for (const runId of byRun.keys()) if (!expectedIds.has(runId)) doubled.push(runId);
  return {
    runsWithMessage: [...byRun.values()].filter((m) => m.posts.length > 0).length,
    posts,
    updates,
    replies,
    missing,
    doubled,
    wrongFinal,
    wrongReplies,
  };
}

/** Every run's status as the status API answers it. */
/**
 * Waits until every run has its Slack message showing its final state (with its thread
 * replies); returns a function that judges the messages again, for the final assertions.
 */
export async function waitForFinalSlack(
  slack: SlackServer,
  channel: string,
  runs: readonly PlannedRun[],
  timeoutMs: number,
): Promise<() => SlackVerdict> {
  const judge = () => judgeSlack(slackByRun(slack, channel), runs, { threadReplies: true });
  await waitUntil(
    () => {
      const verdict = judge();
      return (
        verdict.missing.length === 0 && verdict.wrongFinal.length === 0 && verdict.wrongReplies.length === 0
      );
    },
    () => `every run's Slack message to be final: ${JSON.stringify(judge()).slice(0, 600)}`,
    timeoutMs,
  );
  return judge;
}

export async function statusOfRuns(
  baseUrl: string,
  runs: readonly PlannedRun[],
): Promise<Map<number, { phase: string; status: string } | null>> {
  const out = new Map<number, { phase: string; status: string } | null>();
  for (const run of runs) {
    const response = await fetch(`${baseUrl}/api/v1/runs/github/${run.runId}`);
    out.set(
      run.runId,
      response.status === 200 ? ((await response.json()) as { phase: string; status: string }) : null,
    );
  }
  return out;
}

/** Runs whose stored status is not their final one (finished, success or failure). */
export function wrongStatuses(
  statuses: ReadonlyMap<number, { phase: string; status: string } | null>,
  runs: readonly PlannedRun[],
): string[] {
  return runs.flatMap((run) => {
    const got = statuses.get(run.runId);
    const want = run.fails ? "failure" : "success";
    return got?.phase === "finished" && got.status === want
      ? []
      : [`${run.runId}: ${got ? `${got.phase}/${got.status}` : "unknown"}, want finished/${want}`];
  });
}

/**
 * Sums a counter from a gateway's /metrics over the series whose labels include `labels`,
 * so a test can show that the fault it staged really happened (events spooled, retries).
 */
export async function metricSum(
  baseUrl: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return sum;
}

/**
 * What is still to do: durable consumers of the stream holding unacked or undelivered
 * events, and delivery queues holding waiting, delayed or active jobs. A job that a dead
 * worker or a Redis restart left active counts as work until bullmq hands it back, so a late
 * duplicate cannot slip in after the test looked. Empty when the pipeline is idle.
 */
export async function pendingWork(
  natsUrl: string,
  redisUrl: string,
  prefix = "buildcast",
): Promise<string[]> {
  const busy: string[] = [];
  const nc = await connect({ servers: natsUrl.split(",") });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const info of jsm.consumers.list("BUILD_EVENTS")) {
      // ephemeral (ordered) consumers are readers like countStream, not part of the pipeline
      if (!info.config.durable_name) continue;
      if (info.num_pending > 0 || info.num_ack_pending > 0) {
        busy.push(`${info.name}: ${info.num_pending} pending, ${info.num_ack_pending} unacked`);
      }
    }
  } finally {
    await nc.close();
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for (const name of Object.values(QUEUE_NAMES)) {
      const queue = new Queue(name, { connection: redis, prefix });
      const counts = await queue.getJobCounts(
        "active",
        "waiting",
        "delayed",
        "prioritized",
        "waiting-children",
      );
      await queue.close();
      const open = Object.entries(counts).filter(([, n]) => n > 0);
      if (open.length > 0) busy.push(`${name}: ${open.map(([state, n]) => `${n} ${state}`).join(", ")}`);
    }
  } finally {
    await redis.quit().catch(() => undefined);
  }
  return busy;
}

/** Waits until `pendingWork` is empty, failing with what is still pending. */
export async function waitForIdle(natsUrl: string, redisUrl: string, timeoutMs: number): Promise<void> {
  let busy: string[] = [];
  await waitUntil(
    async () => {
      busy = await pendingWork(natsUrl, redisUrl);
      return busy.length === 0;
    },
    () => `every consumer and delivery queue to be idle; still: ${busy.join("; ")}`,
    timeoutMs,
  );
}

/** How many messages the stream holds. */
export async function storedCount(natsUrl: string): Promise<number> {
  const nc = await connect({ servers: natsUrl.split(",") });
  try {
    return (await (await jetstreamManager(nc)).streams.info("BUILD_EVENTS")).state.messages;
  } finally {
    await nc.close();
  }
}

/** How many mails arrived per run (found by the run URL every mail links to). */
export function mailsByRun(mails: readonly SinkMail[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const mail of mails) {
    const match = /\/actions\/runs\/(\d+)/.exec(mail.parsed.text ?? "");
    const runId = match ? Number(match[1]) : -1;
    counts.set(runId, (counts.get(runId) ?? 0) + 1);
  }
  return counts;
}

/** Runs in `expected` without exactly one mail, and mails about runs not expected. */
export function judgeMails(
  mails: readonly SinkMail[],
  expected: readonly PlannedRun[],
): { readonly missing: number[]; readonly doubled: number[]; readonly unexpected: number[] } {
  const counts = mailsByRun(mails);
  const wanted = new Set(expected.map((run) => run.runId));
  return {
    missing: expected.filter((run) => !counts.has(run.runId)).map((run) => run.runId),
    doubled: [...counts].filter(([runId, n]) => wanted.has(runId) && n > 1).map(([runId]) => runId),
    unexpected: [...counts.keys()].filter((runId) => !wanted.has(runId)),
  };
}
