import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { countStream } from "./burst.ts";
import { startNatsCluster, startRedis } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";

const WEBHOOKS = 600;

test(
  "3-node JetStream cluster, stream replicas 3, the stream leader killed mid-burst: nothing lost, nothing doubled",
  { timeout: 170_000 },
  async () => {
    const cluster = await startNatsCluster(3);
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-cluster-"));
    const configFile = join(dir, "config.yaml");
    writeFileSync(configFile, "nats:\n  stream:\n    replicas: 3\nstatus:\n  replicas: 3\n");
    // Create the stream first to learn its leader, then connect the gateway to that very node
    // (it discovers the others from the cluster): killing the leader then also cuts the
    // gateway's connection mid-election — the hardest case, and the same one every run.
    const nc = await connect({ servers: cluster.nodes.map((node) => node.url) });
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, loadConfig({ env: {}, file: configFile }).config.nats.stream);
    const info = await jsm.streams.info("BUILD_EVENTS");
    assert.equal(info.config.num_replicas, 3);
    const leader = info.cluster?.leader ?? "";
    const victim = cluster.nodes[Number(leader.replace("n", "")) - 1] ?? cluster.nodes[0]!;
    const gateway = await startGatewayProcess({
      NATS_URL: victim.url,
      REDIS_URL: redis.url,
      BUILDCAST_CONFIG: configFile,
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
      LOG_LEVEL: "warn",
    });
    try {
      const ids = new Set<string>();
      let answered = 0;
      let killed = false;
      for (let start = 0; start < WEBHOOKS; start += 20) {
        if (!killed && start >= WEBHOOKS / 3) {
          await victim.stop(true);
          killed = true;
        }
        const batch = Array.from({ length: Math.min(20, WEBHOOKS - start) }, (_, k) => start + k);
        const results = await Promise.all(
          batch.map((i) =>
            postGithub(
              gateway.url,
              "workflow_run",
              workflowRun({ runId: 5_000_000 + i, status: "completed", at: 100 }),
            ),
          ),
        );
        for (const result of results) {
          assert.equal(result.status, 202, JSON.stringify(result.body));
          answered += 1;
          for (const event of result.body.events as Array<{ id: string }>) ids.add(event.id);
        }
      }
      console.log(
        `sent ${WEBHOOKS} webhooks, killed stream leader ${leader} after ${WEBHOOKS / 3}: ${answered} answered 202`,
      );

      const deadline = Date.now() + 90_000;
      let stored = 0;
      while (Date.now() < deadline) {
        try {
          stored = (await jsm.streams.info("BUILD_EVENTS")).state.messages;
          if (stored >= WEBHOOKS) break;
        } catch {
          // leader election in progress
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const { distinct, missing, doubled } = await countStream(cluster.url, ids);
      console.log(
        `stored ${stored} messages on the surviving nodes: ${distinct} distinct, ${missing} missing, ${doubled} doubled`,
      );
      assert.equal(missing, 0);
      assert.equal(doubled, 0);
      assert.equal(stored, WEBHOOKS);
    } finally {
      await nc.close();
      await gateway.terminate().catch(() => null);
      await cluster.dispose();
      await redis.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
