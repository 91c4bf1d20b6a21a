import assert from "node:assert/strict";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { eventually } from "../helpers/poll.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

async function pending(url: string, consumer: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(
    `^buildcast_consumer_pending_messages\\{consumer="${consumer}"\\} (\\d+)$`,
    "m",
  ).exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * Replicas split by role: the lag alert must fire when every `workers` replica is gone and
 * webhooks keep being stored, and the ingress replicas are then the only ones scraped.
 */
test("consumer lag is reported by every replica, so it shows while no worker runs and after they catch up", async () => {
  const nats = await startNats();
  const redis = await startRedis();
  const ingress = await startTestGateway({ nats, redis, overrides: { role: "ingress" } });
  let workers = await startTestGateway({ nats, redis, overrides: { role: "workers" } });
  try {
    let at = 10;
    const send = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const body = workflowRun({ runId: 9000 + at, status: "completed", at: at++ });
        assert.equal((await postGithub(ingress.url, "workflow_run", body)).status, 202);
      }
    };
    await send(3);
    await eventually(
      async () => (await pending(ingress.url, "status-store")) === 0,
      "lag 0 on ingress",
      20_000,
    );

    await workers.close();
    await send(12);
    await eventually(
      async () => (await pending(ingress.url, "status-store")) === 12,
      "12 messages pending for status-store, seen by the ingress replica",
      20_000,
    );

    workers = await startTestGateway({ nats, redis, overrides: { role: "workers" } });
    await eventually(
      async () => (await pending(ingress.url, "status-store")) === 0,
      "the lag back to 0 once a worker caught up",
      20_000,
    );
  } finally {
    await workers.close();
    await ingress.close();
    await nats.dispose();
    await redis.dispose();
  }
});
