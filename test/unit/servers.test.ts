import assert from "node:assert/strict";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNats } from "../helpers/servers.ts";

test("a private nats-server with JetStream starts, restarts and is disposed", async () => {
  const nats = await startNats();
  try {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    assert.equal(info.streams, 0);
    await nc.close();
  } finally {
    await nats.dispose();
  }
});
