import type { JetStreamManager } from "@nats-io/jetstream";
import type { SlackServer } from "../test/helpers/slack-server.ts";
import { waitForConsumers } from "./drain.ts";
import { BENCH_SECRET, NOTIFY_REPOSITORY } from "./gateway-process.ts";
import { signBody, workflowRunTemplate } from "./payloads.ts";
import { runIdOf } from "./slack-calls.ts";
import { percentile } from "./stats.ts";

export interface E2eRound {
  readonly sent: number;
  readonly notified: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Benchmark 2: an open-loop stream of completed runs (each a new run of the routed repository,
 * so each is one `chat.postMessage`) at `rate` per second; latency is from the moment the
 * request is sent to the moment the local Slack API receives the call. Sender and Slack server
 * share this process and its clock.
 */
export async function benchEndToEnd(
  gatewayUrl: string,
  slack: SlackServer,
  jsm: JetStreamManager,
  options: { rate: number; durationMs: number; firstRunId: number },
): Promise<E2eRound> {
  const template = workflowRunTemplate(20_000, { repository: NOTIFY_REPOSITORY, conclusion: "success" });
  const sentAt = new Map<number, number>();
  const total = Math.round((options.rate * options.durationMs) / 1000);
  const interval = 1000 / options.rate;
  const started = performance.now();
  const requests: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const wait = started + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const runId = options.firstRunId + i;
    const body = template.body(runId);
    sentAt.set(runId, Date.now());
    requests.push(
      fetch(`${gatewayUrl}/webhooks/github`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-github-event": "workflow_run",
          "x-github-delivery": `e2e-${runId}`,
          "x-hub-signature-256": signBody(BENCH_SECRET, body),
        },
      }).then(async (response) => {
        await response.arrayBuffer();
        if (response.status !== 202) throw new Error(`gateway answered ${response.status}`);
      }),
    );
  }
  await Promise.all(requests);
  await waitForConsumers(jsm, "BUILD_EVENTS", 60_000);
  // the last bullmq jobs may still be in flight after the consumers acked
  const deadline = Date.now() + 10_000;
  const firstCall = new Map<number, number>();
  while (Date.now() < deadline) {
    for (const call of slack.calls) {
      const runId = runIdOf(call);
      if (runId !== null && sentAt.has(runId) && !firstCall.has(runId)) firstCall.set(runId, call.at);
    }
    if (firstCall.size >= total) break;
    await sleep(200);
  }
  const latencies = [...firstCall].map(([runId, at]) => at - (sentAt.get(runId) ?? at));
  return {
    sent: total,
    notified: firstCall.size,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: percentile(latencies, 100),
  };
}
