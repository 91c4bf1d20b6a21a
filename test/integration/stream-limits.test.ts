import assert from "node:assert/strict";
import { test } from "node:test";
import { connectBus } from "../../src/bus/connect.ts";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { startTestGateway } from "../helpers/gateway.ts";
import { startNats } from "../helpers/servers.ts";

// An operator who caps BUILD_EVENTS (`nats stream edit BUILD_EVENTS --max-bytes 10GB`) to
// protect the server's disk gets buildcast's discard policy with it, old: once the cap is
// reached JetStream drops the oldest events, whether or not a consumer has read them (14 of
// 20 events in a stream capped at 4 KB, none read). buildcast keeps the cap, and says so.
test("a size limit on BUILD_EVENTS is kept, and named at start as one that drops unread events", async () => {
  const nats = await startNats();
  const bus = await connectBus(nats.url, createLogger({ level: "silent", secrets: [] }));
  const { config } = loadConfig({ env: {}, overrides: {} });
  await ensureStreams(bus.jsm, config.nats.stream);
  const info = await bus.jsm.streams.info(config.nats.stream.name);
  await bus.jsm.streams.update(config.nats.stream.name, { ...info.config, max_bytes: 10 * 1024 * 1024 });
  const gateway = await startTestGateway({ nats, consumers: false });
  try {
    const warnings = gateway.logs
      .map((line) => JSON.parse(line) as { level: string; msg: string; limits?: string[] })
      .filter((line) => line.level === "warn" && line.msg.includes("drops the oldest events"));
    assert.equal(warnings.length, 1, gateway.logs.join("\n"));
    assert.deepEqual(warnings[0]?.limits, ["max_bytes 10485760"]);
    const kept = await bus.jsm.streams.info(config.nats.stream.name);
    assert.equal(kept.config.max_bytes, 10 * 1024 * 1024, "the operator's cap stays");
  } finally {
    await gateway.close();
    await bus.close();
    await nats.dispose();
  }
});
