import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { DependencyUnavailableError, startConsumer } from "../../src/bus/consume.ts";
import { ensureDurableConsumer, ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { buildEvent, publishEvent } from "../helpers/events.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

describe("the durable consumer loop on real NATS", () => {
  let nats: TestServer;
  let bus: Bus;
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", secrets: [], write: (line) => logs.push(line) });
  const stream = loadConfig({ env: {} }).config.nats.stream;

  before(async () => {
    nats = await startNats();
    bus = await connectBus(nats.url, logger);
    await ensureStreams(bus.jsm, stream);
  });
  after(async () => {
    await bus.close();
    await nats.dispose();
  });

  const waitUntil = async (check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  test("a dependency outage longer than max_deliver allows holds the message, then handles it once", async () => {
    const attempts: number[] = [];
    let outageUntil = Date.now() + 4000;
    const consumer = await startConsumer({
      ...bus,
      stream: stream.name,
      durable: "outage-test",
      maxDeliver: 2,
      ackWaitMs: 2000,
      logger,
      handle: async (_event, context) => {
        attempts.push(context.deliveryCount);
        if (Date.now() < outageUntil) throw new DependencyUnavailableError("redis is down");
      },
    });
    try {
      await publishEvent(bus.js, buildEvent({ status: "failure", runId: "outage-1" }));
      await waitUntil(() => Date.now() > outageUntil && attempts.length > 0, "the outage to end");
      let settled = await bus.jsm.consumers.info(stream.name, "outage-test");
      for (let i = 0; i < 100 && (settled.num_ack_pending > 0 || settled.num_pending > 0); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        settled = await bus.jsm.consumers.info(stream.name, "outage-test");
      }
      assert.equal(settled.num_ack_pending, 0, "acked");
      assert.equal(settled.num_redelivered, 0, "never redelivered: no delivery was spent on the outage");
      assert.ok(attempts.length >= 3, `retried in place (${attempts.length} attempts)`);
      assert.ok(
        attempts.every((count) => count === 1),
        "every attempt was the first delivery",
      );
      assert.ok(logs.some((line) => line.includes("holding the message")));
      const dead = await bus.jsm.streams.info(`${stream.name}_DEADLETTERS`);
      assert.equal(dead.state.messages, 0);
    } finally {
      outageUntil = 0;
      await consumer.stop();
    }
  });

  test("a message that keeps failing is written to the dead-letter stream after max_deliver, not dropped", async () => {
    let calls = 0;
    const consumer = await startConsumer({
      ...bus,
      stream: stream.name,
      durable: "poison-test",
      maxDeliver: 2,
      ackWaitMs: 2000,
      logger,
      handle: async () => {
        calls += 1;
        throw new Error("this message is poison");
      },
    });
    try {
      const deadBefore = (await bus.jsm.streams.info(`${stream.name}_DEADLETTERS`)).state.messages;
      await waitUntil(() => calls >= 2, "two deliveries", 30_000);
      await waitUntil(
        () => logs.some((line) => line.includes("message dead-lettered")),
        "the dead letter",
        10_000,
      );
      const dead = await bus.jsm.streams.getMessage(`${stream.name}_DEADLETTERS`, {
        last_by_subj: "buildcast.deadletter.poison-test",
      });
      assert.ok(dead);
      const record = dead.json<{ consumer: string; deliveries: number; reason: string; body: string }>();
      assert.equal(record.consumer, "poison-test");
      assert.equal(record.deliveries, 2);
      assert.match(record.reason, /poison/);
      assert.ok(record.body.length > 0, "the original event is kept");
      assert.ok((await bus.jsm.streams.info(`${stream.name}_DEADLETTERS`)).state.messages > deadBefore);
    } finally {
      await consumer.stop();
    }
  });

  test("a batch handler gets what arrived together; a failing write redelivers only its messages", async () => {
    const runs = ["batch-good-1", "batch-bad", "batch-good-2"];
    const events = runs.flatMap((runId) =>
      (["running", "success"] as const).map((status) => buildEvent({ runId, status })),
    );
    for (const event of events) await publishEvent(bus.js, event);
    const batches: string[][] = [];
    const committed: string[] = [];
    const consumer = await startConsumer({
      ...bus,
      stream: stream.name,
      durable: "batch-test",
      maxDeliver: 2,
      ackWaitMs: 2000,
      logger,
      handleBatch: async (batch) => {
        batches.push(batch.map((event) => event.data.run.id));
        // the write of one run's record fails every time; the others' writes would commit
        if (batch.some((event) => event.data.run.id === "batch-bad")) throw new Error("KV write failed");
        committed.push(...batch.map((event) => event.id));
        return Promise.resolve();
      },
    });
    const deadLettered = () =>
      logs.filter(
        (line) => line.includes('"consumer":"batch-test"') && line.includes("message dead-lettered"),
      );
    try {
      await waitUntil(
        () => deadLettered().length >= 2,
        "the failing run's events to be dead-lettered",
        30_000,
      );
      const good = events.filter((event) => event.data.run.id !== "batch-bad").map((event) => event.id);
      assert.ok(
        batches.some((batch) => batch.length > 1),
        `events that arrived together are handled together (${JSON.stringify(batches)})`,
      );
      const ours = new Set(events.map((event) => event.id));
      assert.deepEqual(
        committed.filter((id) => ours.has(id)).sort(),
        [...good].sort(),
        "every other event committed, once",
      );
      const dead = await bus.jsm.streams.getMessage(`${stream.name}_DEADLETTERS`, {
        last_by_subj: "buildcast.deadletter.batch-test",
      });
      const record = dead?.json<{ deliveries: number; body: string }>();
      assert.equal(record?.deliveries, 2, "the failing run's messages were redelivered");
      assert.match(record?.body ?? "", /batch-bad/);
      assert.equal(deadLettered().length, 2);
      let info = await bus.jsm.consumers.info(stream.name, "batch-test");
      for (let i = 0; i < 50 && (info.num_ack_pending > 0 || info.num_pending > 0); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        info = await bus.jsm.consumers.info(stream.name, "batch-test");
      }
      assert.equal(info.num_ack_pending, 0, "every message settled");
      assert.equal(info.num_pending, 0);
    } finally {
      await consumer.stop();
    }
  });

  test("a batch is acked with one confirmation, and none of its messages comes back", async () => {
    // its own connection, so that what arrives on it is this consumer's alone
    const own = await connectBus(nats.url, logger);
    const startedAt = new Date();
    const events = Array.from({ length: 40 }, (_, i) => buildEvent({ runId: `ack-count-${i}` }));
    for (const event of events) await publishEvent(bus.js, event);
    const handled: string[] = [];
    let batches = 0;
    const consumer = await startConsumer({
      ...own,
      stream: stream.name,
      durable: "ack-count",
      maxDeliver: 3,
      ackWaitMs: 1000,
      logger,
      startFrom: () => startedAt,
      handleBatch: async (batch) => {
        batches += 1;
        handled.push(...batch.map((event) => event.id));
        return Promise.resolve();
      },
    });
    try {
      const before = own.nc.stats().inMsgs;
      await waitUntil(() => handled.length >= events.length, "every event handled");
      let info = await bus.jsm.consumers.info(stream.name, "ack-count");
      for (let i = 0; i < 50 && info.num_ack_pending > 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        info = await bus.jsm.consumers.info(stream.name, "ack-count");
      }
      assert.equal(info.num_ack_pending, 0, "every message acked");
      // what arrived: the events, and per batch one confirmation of its acks (a message per
      // ack would be one more per event); a few more for the pull's status messages
      const arrived = own.nc.stats().inMsgs - before;
      assert.ok(
        arrived <= events.length + batches + 3,
        `${arrived} messages arrived for ${events.length} events in ${batches} batches`,
      );
      // the acks that were not confirmed one by one were recorded all the same: past ack_wait,
      // nothing is delivered again
      await new Promise((resolve) => setTimeout(resolve, 2500));
      info = await bus.jsm.consumers.info(stream.name, "ack-count");
      assert.equal(info.num_redelivered, 0);
      assert.equal(info.num_ack_pending, 0);
      assert.deepEqual([...handled].sort(), events.map((event) => event.id).sort(), "each event once");
    } finally {
      await consumer.stop();
      await own.close();
    }
  });

  test("replicas creating the same consumer with a start time at once all get it", async () => {
    // a fresh deployment, or Slack turned on for pods that start together: each asks for a
    // start time a few milliseconds apart, which nats-server refuses as an update
    const other = await connectBus(nats.url, logger);
    try {
      for (let i = 0; i < 10; i++) {
        const options = (offsetMs: number) => ({
          stream: stream.name,
          durable: `race-${i}`,
          maxDeliver: 5,
          ackWaitMs: 30_000,
          startFrom: () => new Date(Date.now() - 600_000 - offsetMs),
        });
        const results = await Promise.allSettled([
          ensureDurableConsumer(bus.jsm, options(0)),
          ensureDurableConsumer(other.jsm, options(7)),
          ensureDurableConsumer(bus.jsm, options(13)),
        ]);
        assert.deepEqual(
          results.map((result) => (result.status === "rejected" ? String(result.reason) : "ok")),
          ["ok", "ok", "ok"],
        );
        const info = await bus.jsm.consumers.info(stream.name, `race-${i}`);
        assert.equal(info.config.deliver_policy, "by_start_time");
      }
    } finally {
      await other.close();
    }
  });

  test("a consumer whose filter someone changed gets its own back when buildcast starts", async () => {
    const options = { stream: stream.name, durable: "refiltered", maxDeliver: 5, ackWaitMs: 30_000 };
    await ensureDurableConsumer(bus.jsm, options);
    // what docs/events.md's consumer snippet does when a reader reuses the name: nats-server
    // 2.9 takes it as an update of the existing consumer, not as an error
    await bus.jsm.consumers.add(stream.name, {
      durable_name: "refiltered",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: "build.*.finished.v1",
    });
    assert.equal(
      (await bus.jsm.consumers.info(stream.name, "refiltered")).config.filter_subject,
      "build.*.finished.v1",
    );
    await ensureDurableConsumer(bus.jsm, options);
    assert.equal((await bus.jsm.consumers.info(stream.name, "refiltered")).config.filter_subject, "build.>");
  });
});
