import assert from "node:assert/strict";
import { test } from "node:test";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { connectBus } from "../../src/bus/connect.ts";
import { createLogger } from "../../src/observability/logger.ts";
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

/**
 * docs/events.md asks teams that read the stream to create their own durable consumer on it.
 * Its lag is theirs: reported as buildcast_consumer_pending_messages it paged buildcast's
 * on-call through BuildcastConsumerLag (a dashboard consumer nobody drains only grows), with
 * a runbook about status-store and the notifiers, and each such consumer was one more series.
 */
test("only buildcast's own consumers are reported, not a durable another team made on the stream", async () => {
  const nats = await startNats();
  const gateway = await startTestGateway({ nats });
  const bus = await connectBus(nats.url, createLogger({ level: "silent", secrets: [] }));
  try {
    await bus.jsm.consumers.add("BUILD_EVENTS", {
      durable_name: "my-dashboard",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    for (let at = 1; at <= 3; at++) {
      const body = workflowRun({ runId: 7000 + at, status: "completed", at });
      assert.equal((await postGithub(gateway.url, "workflow_run", body)).status, 202);
    }
    await eventually(
      async () => (await bus.jsm.consumers.info("BUILD_EVENTS", "my-dashboard")).num_pending === 3,
      "the other team's consumer has 3 messages waiting",
      10_000,
    );
    // the sampler runs every 5 s: once status-store is reported caught up, it has run since
    await eventually(
      async () => (await pending(gateway.url, "status-store")) === 0,
      "status-store reported, caught up",
      20_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 5500));
    assert.equal(await pending(gateway.url, "my-dashboard"), undefined);
  } finally {
    await bus.close();
    await gateway.close();
    await nats.dispose();
  }
});
