import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connectBus } from "../../src/bus/connect.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { startNats, type TestServer } from "../helpers/servers.ts";

const logger = createLogger({ level: "silent", secrets: [] });

/** nats://user:password@host and nats://token@host, as NATS_URL / nats.url may be written. */
describe("NATS credentials in the URL", () => {
  let withPassword: TestServer;
  let withToken: TestServer;
  before(async () => {
    withPassword = await startNats(undefined, { args: ["--user", "buildcast", "--pass", "p@ss:word"] });
    withToken = await startNats(undefined, { args: ["--auth", "s3cret-token"] });
  });
  after(async () => {
    await withPassword.dispose();
    await withToken.dispose();
  });

  const authority = (server: TestServer) => `127.0.0.1:${server.port}`;

  test("user and password (URL-encoded) are sent, for one URL and a seed list", async () => {
    for (const url of [
      `nats://buildcast:${encodeURIComponent("p@ss:word")}@${authority(withPassword)}`,
      `nats://buildcast:${encodeURIComponent("p@ss:word")}@${authority(withPassword)},nats://${authority(withPassword)}`,
    ]) {
      const bus = await connectBus(url, logger);
      try {
        assert.ok(bus.connected());
        await bus.jsm.getAccountInfo();
      } finally {
        await bus.close();
      }
    }
  });

  test("a token in the user part is sent as the token", async () => {
    const bus = await connectBus(`nats://s3cret-token@${authority(withToken)}`, logger);
    try {
      await bus.jsm.getAccountInfo();
    } finally {
      await bus.close();
    }
  });

  test("wrong credentials are still refused", async () => {
    await assert.rejects(
      connectBus(`nats://buildcast:wrong@${authority(withPassword)}`, logger),
      /Authorization/,
    );
  });
});
