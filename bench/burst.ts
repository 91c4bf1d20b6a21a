import type { JetStreamManager } from "@nats-io/jetstream";
import type { SlackServer } from "../test/helpers/slack-server.ts";
import { waitForConsumers } from "./drain.ts";
import { BENCH_SECRET, NOTIFY_REPOSITORY } from "./gateway-process.ts";
import { signBody, workflowJobBody, workflowRunTemplate } from "./payloads.ts";
import { runIdOf } from "./slack-calls.ts";

export interface BurstRound {
  readonly events: number;
  /** from the first to the last job event's answer */
  readonly sendMs: number;
  /** Slack calls for the run from the first job event on */
  readonly calls: number;
  /** the last call shows the final job tally */
  readonly finalShown: boolean;
  /** the failed-job tally the last call showed */
  readonly lastTally: string;
  /** from the last event's answer until the consumers had handled every event */
  readonly consumedMs: number;
  /** from the last event's answer to the last Slack call */
  readonly lagMs: number;
}

const JOBS = 500;
/** notify.slack.minInterval in the gateway's config (the default) */
const SLACK_SPACING_MS = 1000;
/** every 50th job fails, the last one included: the tally is only final after the last event */
const fails = (job: number): boolean => job % 50 === 49;
const FINAL_TALLY = `${JOBS / 50} of ${JOBS}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(gatewayUrl: string, event: string, body: string, delivery: string): Promise<void> {
  const response = await fetch(`${gatewayUrl}/webhooks/github`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": event,
      "x-github-delivery": delivery,
      "x-hub-signature-256": signBody(BENCH_SECRET, body),
    },
  });
  await response.arrayBuffer();
  if (response.status !== 202) throw new Error(`gateway answered ${response.status} to ${event}`);
}

/**
 * Benchmark 3: a run is started (one chat.postMessage), then 1,000 workflow_job events of
 * that run (500 jobs, in_progress then completed) arrive within 2 s. Counts the Slack calls
 * they cause and checks that the last one shows the final failed-job tally.
 */
export async function benchBurst(
  gatewayUrl: string,
  slack: SlackServer,
  jsm: JetStreamManager,
  runId: number,
): Promise<BurstRound> {
  const started = workflowRunTemplate(2000, { repository: NOTIFY_REPOSITORY })
    .body(runId)
    .replace('"status":"completed","conclusion":"success"', '"status":"in_progress","conclusion":null')
    .replace('"action":"completed"', '"action":"in_progress"');
  await post(gatewayUrl, "workflow_run", started, `burst-${runId}-start`);
  const deadline = Date.now() + 10_000;
  while (!slack.calls.some((call) => runIdOf(call) === runId) && Date.now() < deadline) await sleep(50);
  if (!slack.calls.some((call) => runIdOf(call) === runId))
    throw new Error("the started run got no Slack message");
  await sleep(1500); // let the per-message spacing from the first post pass

  const bodies: string[] = [];
  for (let job = 0; job < JOBS; job++) {
    const base = { id: runId * 1000 + job, name: `test-shard-${job}` };
    const at = new Date(Date.parse("2024-05-01T10:01:00Z") + job * 100).toISOString();
    bodies.push(
      workflowJobBody(runId, { ...base, status: "in_progress", conclusion: null, at }, NOTIFY_REPOSITORY),
    );
    bodies.push(
      workflowJobBody(
        runId,
        { ...base, status: "completed", conclusion: fails(job) ? "failure" : "success", at },
        NOTIFY_REPOSITORY,
      ),
    );
  }
  const callsBefore = slack.calls.length;
  const first = Date.now();
  // 1,000 events spread evenly over 1.8 s, at most 32 in flight, in order per job
  const interval = 1800 / bodies.length;
  const inFlight = new Set<Promise<void>>();
  for (const [i, body] of bodies.entries()) {
    const wait = first + i * interval - Date.now();
    if (wait > 0) await sleep(wait);
    if (inFlight.size >= 32) await Promise.race(inFlight);
    const request = post(gatewayUrl, "workflow_job", body, `burst-${runId}-${i}`).finally(() =>
      inFlight.delete(request),
    );
    inFlight.add(request);
  }
  await Promise.all(inFlight);
  const last = Date.now();
  const consumedMs = await waitForConsumers(jsm, "BUILD_EVENTS", 60_000);
  // then the delivery queue: one more spaced call at most
  await sleep(SLACK_SPACING_MS + 1500);
  const calls = slack.calls.slice(callsBefore).filter((call) => runIdOf(call) === runId);
  const final = calls.at(-1);
  return {
    events: bodies.length,
    sendMs: last - first,
    calls: calls.length,
    finalShown: final !== undefined && JSON.stringify(final.args).includes(FINAL_TALLY),
    lastTally: /Failed jobs\*\\n(\d+ of \d+)/.exec(JSON.stringify(final?.args ?? {}))?.[1] ?? "none",
    consumedMs,
    lagMs: final === undefined ? Number.NaN : final.at - last,
  };
}
