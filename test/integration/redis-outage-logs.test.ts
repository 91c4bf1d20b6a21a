import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { startNats, startRedis } from "../helpers/servers.ts";

/**
 * What an operator's log pipeline sees while Redis is down: the gateway as it runs in
 * production (its own process, JSON on stdout), with both delivery channels on.
 */
test(
  "Redis down: every line the gateway writes is one JSON object, and it says so a few times, not on every reconnect",
  { timeout: 90_000 },
  async () => {
    const nats = await startNats();
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-logs-"));
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_SPOOL_DIR: dir,
      SLACK_BOT_TOKEN: "xoxb-outage-logs",
      SLACK_API_URL: "http://127.0.0.1:9/api/",
      SMTP_URL: "smtp://127.0.0.1:9",
    });
    try {
      const before = gateway.output().length;
      await redis.stop();
      // ioredis retries within a second at first: several reconnect attempts per connection
      await new Promise((resolve) => setTimeout(resolve, 8000));
      await redis.restart();
      await new Promise((resolve) => setTimeout(resolve, 2000));

      const lines = gateway
        .output()
        .slice(before)
        .split("\n")
        .filter((line) => line.trim() !== "");
      const notJson = lines.filter((line) => {
        try {
          return typeof JSON.parse(line) !== "object";
        } catch {
          return true;
        }
      });
      assert.deepEqual(notJson.slice(0, 5), [], "no raw stack traces or other non-JSON output");
      const refused = lines.filter((line) => line.includes("ECONNREFUSED"));
      assert.ok(refused.length > 0, "the outage is logged");
      assert.ok(
        refused.length <= 6,
        `Redis being away is logged a few times, not once per reconnect attempt (${refused.length} lines):\n` +
          refused.slice(0, 10).join("\n"),
      );
    } finally {
      await gateway.terminate();
      await nats.dispose();
      await redis.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
