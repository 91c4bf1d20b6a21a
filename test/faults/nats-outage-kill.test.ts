import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { countStream } from "./burst.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

const WEBHOOKS = 500;

test(
  "NATS down while 500 webhooks arrive, gateway SIGKILLed, both restarted: all 500 events stored exactly once",
  { timeout: 170_000 },
  async () => {
    const nats = await startNats();
    const redis = await startRedis();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-fault-spool-"));
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_SPOOL_DIR: spoolDir,
      LOG_LEVEL: "warn",
    };
    let gateway = await startGatewayProcess(env).catch(async (error: unknown) => {
      // without this, the servers' handles keep the file running until its timeout
      await nats.dispose();
      await redis.dispose();
      throw error;
    });
    try {
      await nats.stop();
      const ids = new Set<string>();
      let accepted = 0;
      for (let start = 0; start < WEBHOOKS; start += 25) {
        const batch = Array.from({ length: Math.min(25, WEBHOOKS - start) }, (_, k) => start + k);
        const results = await Promise.all(
          batch.map((i) =>
            postGithub(
              gateway.url,
              "workflow_run",
              workflowRun({ runId: 1_000_000 + i, status: "completed", at: 100 }),
              {
                delivery: `delivery-${i}`,
              },
            ),
          ),
        );
        for (const result of results) {
          assert.equal(result.status, 202, JSON.stringify(result.body));
          accepted += 1;
          for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
        }
      }
      const segments = readdirSync(spoolDir).length;
      console.log(
        `sent ${WEBHOOKS} webhooks while NATS was down: ${accepted} answered 202, ${ids.size} distinct events, spool segments: ${segments}`,
      );
      assert.equal(ids.size, WEBHOOKS);
      assert.ok(segments >= 1, "accepted events are on disk");

      await gateway.kill();
      await nats.restart();
      gateway = await startGatewayProcess(env);

      const nc = await connect({ servers: nats.url });
      try {
        const jsm = await jetstreamManager(nc);
        const deadline = Date.now() + 60_000;
        let stored = 0;
        while (Date.now() < deadline) {
          stored = (await jsm.streams.info("BUILD_EVENTS")).state.messages;
          if (stored >= WEBHOOKS && readdirSync(spoolDir).length === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        // read every stored message back and check each id arrived exactly once
        const { distinct, missing, doubled } = await countStream(nats.url, ids);
        console.log(
          `after restart: ${stored} messages in BUILD_EVENTS, ${distinct} distinct, ${missing} missing, ${doubled} doubled`,
        );
        assert.equal(stored, WEBHOOKS);
        assert.equal(missing, 0);
        assert.equal(doubled, 0);
        assert.equal(readdirSync(spoolDir).length, 0, "the spool is empty once flushed");
      } finally {
        await nc.close();
      }
    } finally {
      await gateway.terminate().catch(() => null);
      await nats.dispose();
      await redis.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  },
);
