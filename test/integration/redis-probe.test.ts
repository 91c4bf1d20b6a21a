import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { probeRedis } from "../../src/notify/queue.ts";
import { startRedis, type TestServer } from "../helpers/servers.ts";

describe("probing Redis at start, against a real redis-server", () => {
  let redis: TestServer;
  let secured: TestServer;

  before(async () => {
    // a script may run 100 ms before every other client is answered BUSY
    redis = await startRedis(undefined, { args: ["--busy-reply-threshold", "100"] });
    secured = await startRedis(undefined, { args: ["--requirepass", "right-password"] });
  });

  after(async () => {
    await redis.dispose();
    await secured.dispose();
  });

  it("takes a Redis answering that it is busy for an outage to wait out, not a refusal", async () => {
    // a script that runs on: Redis answers every other client -BUSY until it ends, as it
    // answers -LOADING while it reads its data after a restart; both cure themselves
    const runner = new Redis(redis.url);
    const killer = new Redis(redis.url);
    await Promise.all([runner.ping(), killer.ping()]);
    const running = runner.eval("while true do end", 0).catch((error: Error) => error);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const probe = await probeRedis(redis.url);
      assert.equal(probe.outcome, "unreachable", JSON.stringify(probe));
      assert.match(probe.outcome === "unreachable" ? probe.reason : "", /BUSY/);
    } finally {
      await killer.script("KILL").catch(() => undefined);
      await running;
      runner.disconnect();
      killer.disconnect();
    }
    assert.deepEqual(await probeRedis(redis.url), { outcome: "ready" });
  });

  it("still takes a wrong password for a refusal", async () => {
    const url = new URL(secured.url);
    url.password = "wrong-password";
    const probe = await probeRedis(url.toString());
    assert.equal(probe.outcome, "refused", JSON.stringify(probe));
    assert.doesNotMatch(JSON.stringify(probe), /wrong-password|right-password/);
  });
});
