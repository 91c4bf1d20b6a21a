import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createLogger } from "../../src/observability/logger.ts";
import { branchStoreKey } from "../../src/status/keys.ts";
import { startView } from "../../src/status/view.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

describe("a status view starting on a large bucket, against a real NATS", () => {
  let nats: TestServer;
  let nc: NatsConnection;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });

  after(async () => {
    await nc.drain();
    await nats.dispose();
  });

  it("waits for every list while the watch delivers, past a timeout meant for a stalled watch", async () => {
    const kv = await new Kvm(nc).create("view_load_test", { history: 1 });
    const lists = 40_000;
    // a run-free list per branch: the watch's delivery, not the lists' size, is what is timed
    for (let start = 0; start < lists; start += 1000) {
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) => {
          const branch = `feature/${start + i}`;
          const key = branchStoreKey("github", "acme/monorepo", branch, "CI");
          return kv.put(
            key,
            JSON.stringify({
              v: 1,
              provider: "github",
              repository: { id: "1", fullName: "acme/monorepo", url: "https://github.com/acme/monorepo" },
              branch,
              pipeline: "CI",
              runs: [],
            }),
          );
        }),
      );
    }
    const began = Date.now();
    // 40,000 entries take well over 300 ms to arrive; no gap between two of them comes near it
    const view = await startView(kv, createLogger({ level: "silent", secrets: [] }), { readyTimeoutMs: 300 });
    try {
      const took = Date.now() - began;
      assert.ok(took > 300, `the load took ${took} ms, too little to tell the timeouts apart`);
      assert.equal(view.size(), lists, `started with ${view.size()} of ${lists} lists after ${took} ms`);
    } finally {
      await view.stop();
    }
  });
});
