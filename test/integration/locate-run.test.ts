import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { runStoreKey } from "../../src/status/keys.ts";
import { runLocator } from "../../src/status/locate-run.ts";
import { EMPTY_VIEW } from "../../src/status/view.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

const BUCKET = "LOCATE_RUNS";

describe("finding a run the view no longer lists, against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let kv: KV;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    kv = await new Kvm(nc).create(BUCKET, { history: 1 });
    const run = { v: 1, provider: "github", runId: "77", attempt: 1 };
    await kv.put(runStoreKey("github", "4242", "77"), JSON.stringify(run));
    await kv.put(runStoreKey("github", "4242", "78"), JSON.stringify({ ...run, runId: "78" }));
    await kv.delete(runStoreKey("github", "4242", "78"));
  });
  after(async () => {
    await nc.close();
    await nats.dispose();
  });

  it("finds a stored run by its id whatever its repository, and not a deleted one", async () => {
    const locate = runLocator(kv, EMPTY_VIEW, { jsm, bucket: BUCKET });
    const found = await locate("github", "77");
    assert.equal(found?.run.runId, "77");
    assert.equal(await locate("github", "78"), null);
    assert.equal(await locate("gitlab", "77"), null);
  });

  it("leaves nothing on the server per lookup, so asking for unknown runs costs it nothing", async () => {
    const locate = runLocator(kv, EMPTY_VIEW, { jsm, bucket: BUCKET });
    for (let i = 0; i < 50; i++) assert.equal(await locate("github", `missing-${i}`), null);
    await locate("github", "77");
    // kv.keys made an ephemeral consumer per call, which outlived an empty answer by 5 minutes
    const { state } = await jsm.streams.info(`KV_${BUCKET}`);
    assert.equal(state.consumer_count, 0);
  });
});
