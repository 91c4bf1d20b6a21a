import { after, before } from "node:test";
import { Kvm, type KV } from "@nats-io/kv";
import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { startNats, type TestServer } from "./servers.ts";

/**
 * Fresh KV buckets on a private nats-server for the suite that calls this: the server starts
 * before the suite's tests and stops after them. Each call of the returned function creates
 * a new bucket (`<prefix>-1`, `<prefix>-2`, …), so tests never see each other's keys.
 */
export function kvBuckets(prefix: string): () => Promise<KV> {
  let nats: TestServer;
  let bus: Bus;
  let created = 0;
  before(async () => {
    nats = await startNats();
    bus = await connectBus(nats.url, createLogger({ level: "silent", secrets: [] }));
  });
  after(async () => {
    await bus.close();
    await nats.dispose();
  });
  return () => new Kvm(bus.nc).create(`${prefix}-${++created}`, { history: 1 });
}
