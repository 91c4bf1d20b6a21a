import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { openNotifyBucket } from "../../src/notify/kv-state.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { eventually } from "../helpers/poll.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

const logger = createLogger({ level: "silent", secrets: [] });

async function keyCount(kv: KV): Promise<number> {
  let count = 0;
  for await (const _ of await kv.keys()) count += 1;
  return count;
}

describe("the notify bucket's max age against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
  });
  after(async () => {
    await nc.close();
    await nats.dispose();
  });

  const open = (bucket: string, maxAgeMs: number) =>
    openNotifyBucket(jetstream(nc), jsm, { bucket, replicas: 1, maxAgeMs }, logger);

  it("follows nats.stream.maxAge when it changes, so state of old runs expires as documented", async () => {
    // an install that kept events for ever (maxAge 0), or an older default, created the bucket
    const before = await open("NOTIFY_AGE_1", 0);
    for (let run = 0; run < 20; run++) {
      await before.put(`slack.run.r${run}`, JSON.stringify({ run }));
      await before.put(`slack.claim.C1.r${run}`, JSON.stringify({ run }));
    }
    assert.equal(await keyCount(before), 40);

    // the operator bounds it; the events stream follows on every start, and so must the bucket
    const after = await open("NOTIFY_AGE_1", 1500);
    assert.equal((await jsm.streams.info("KV_NOTIFY_AGE_1")).config.max_age, nanos(1500));
    await eventually(async () => (await keyCount(after)) === 0, "the old runs' state to expire");
  });

  it("leaves a bucket that already has the configured max age as it is", async () => {
    await open("NOTIFY_AGE_2", 60_000);
    const { config: created } = await jsm.streams.info("KV_NOTIFY_AGE_2");
    await open("NOTIFY_AGE_2", 60_000);
    const { config: reopened } = await jsm.streams.info("KV_NOTIFY_AGE_2");
    assert.deepEqual(reopened, created);
  });
});
