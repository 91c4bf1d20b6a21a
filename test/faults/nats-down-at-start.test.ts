import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { startNats, startNatsCluster } from "../helpers/servers.ts";
import { postFailedRun, workflowRun } from "../helpers/synthetic-webhooks.ts";
import { postGithub } from "../helpers/webhooks.ts";
import { eventually } from "../helpers/poll.ts";

const WEBHOOKS = 20;

async function storedMessages(url: string): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info("BUILD_EVENTS")).state.messages;
  } catch {
    return 0;
  } finally {
    await nc.close();
  }
}

for (const role of ["ingress", "all"] as const) {
  test(
    `role ${role}, NATS unreachable at start (production, spool on): the gateway starts, spools webhooks, and stores them once NATS is up`,
    { timeout: 120_000 },
    async () => {
      const nats = await startNats();
      await nats.stop();
      const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-start-spool-"));
      // no Slack token and no SMTP URL: the consumers need no Redis
      const env = { NATS_URL: nats.url, BUILDCAST_SPOOL_DIR: spoolDir, BUILDCAST_ROLE: role };
      const gateway = await startGatewayProcess(env).catch(async (error: unknown) => {
        await nats.dispose();
        rmSync(spoolDir, { recursive: true, force: true });
        throw error;
      });
      try {
        const ready = await fetch(`${gateway.url}/readyz`);
        const readyBody = (await ready.json()) as Record<string, string>;
        assert.equal(ready.status, 200);
        assert.equal(readyBody.nats, "disconnected");
        assert.match(readyBody.spool ?? "", /^accepting/);
        assert.match(gateway.output(), /cannot reach NATS[^\n]*spool/);

        for (let i = 0; i < WEBHOOKS; i++) {
          const result = await postFailedRun(gateway.url, 5_000 + i, { repository: "acme/start" });
          assert.equal(result.status, 202, JSON.stringify(result.body));
        }
        assert.ok(readdirSync(spoolDir).length >= 1, "accepted events are on disk");

        // the status API has nothing to say yet: a clear 503, not an empty (wrong) answer
        const status = await fetch(`${gateway.url}/api/v1/status?repository=acme/start&branch=main`);
        assert.equal(status.status, 503);
        assert.match(String(((await status.json()) as { message?: string }).message), /\w/);

        const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
        assert.match(metrics, new RegExp(`^buildcast_spool_events ${WEBHOOKS}$`, "m"));

        await nats.restart();
        await eventually(
          async () => (await storedMessages(nats.url)) === WEBHOOKS && readdirSync(spoolDir).length === 0,
          "spooled events republished once NATS is up",
          60_000,
        );
        if (role === "all") {
          await eventually(
            async () =>
              (await fetch(`${gateway.url}/api/v1/status?repository=acme/start&branch=main`)).status === 200,
            "the status store consumed the events",
            30_000,
          );
        }
        const after = (await (await fetch(`${gateway.url}/readyz`)).json()) as Record<string, string>;
        assert.equal(after.nats, "connected");
        assert.equal(after.stream, "ready");
        assert.equal(await gateway.terminate(), 0);
      } finally {
        await gateway.terminate().catch(() => null);
        await nats.dispose();
        rmSync(spoolDir, { recursive: true, force: true });
      }
    },
  );
}

test(
  "spool off, NATS unreachable at start: the gateway exits 1 and says why",
  { timeout: 60_000 },
  async () => {
    const nats = await startNats();
    await nats.stop();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-start-nospool-"));
    writeFileSync(join(dir, "config.yaml"), "spool:\n  enabled: false\n");
    try {
      await assert.rejects(
        startGatewayProcess({ NATS_URL: nats.url, BUILDCAST_CONFIG: join(dir, "config.yaml") }),
        /exited with 1[\s\S]*cannot reach NATS/,
      );
    } finally {
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "SIGTERM before NATS was ever reached: the gateway exits 0 at once and its spool keeps the webhooks",
  { timeout: 60_000 },
  async () => {
    const nats = await startNats();
    await nats.stop();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-start-spool-"));
    try {
      const gateway = await startGatewayProcess({ NATS_URL: nats.url, BUILDCAST_SPOOL_DIR: spoolDir });
      const result = await postGithub(
        gateway.url,
        "workflow_run",
        workflowRun({ runId: 6_000, status: "completed", conclusion: "success", at: 10 }),
      );
      assert.equal(result.status, 202, JSON.stringify(result.body));
      const started = Date.now();
      assert.equal(await gateway.terminate(), 0, gateway.output());
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 5000, `shutdown took ${tookMs} ms`);
      assert.ok(readdirSync(spoolDir).length >= 1, "the spooled webhook stays on disk for the next start");
    } finally {
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  },
);

test(
  "a replica OOM-killed during a NATS outage restarts, keeps taking webhooks, and stores its old and new spool once NATS is back",
  { timeout: 120_000 },
  async () => {
    const nats = await startNats();
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-start-spool-"));
    const env = { NATS_URL: nats.url, BUILDCAST_SPOOL_DIR: spoolDir, BUILDCAST_ROLE: "ingress" };
    let gateway = await startGatewayProcess(env);
    try {
      await nats.stop();
      const post = async (i: number): Promise<void> => {
        const result = await postFailedRun(gateway.url, 7_000 + i);
        assert.equal(result.status, 202, JSON.stringify(result.body));
      };
      for (let i = 0; i < 10; i++) await post(i);
      await gateway.kill();
      gateway = await startGatewayProcess(env, gateway.port);
      for (let i = 10; i < 20; i++) await post(i);
      await nats.restart();
      await eventually(
        async () => (await storedMessages(nats.url)) === 20 && readdirSync(spoolDir).length === 0,
        "both processes' spooled events republished",
        60_000,
      );
    } finally {
      await gateway.terminate().catch(() => null);
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  },
);

test(
  "the first server of a cluster's NATS_URL down at start: the gateway connects to another one, spool or not",
  { timeout: 120_000 },
  async () => {
    const cluster = await startNatsCluster(3);
    const dir = mkdtempSync(join(tmpdir(), "buildcast-start-cluster-"));
    writeFileSync(join(dir, "config.yaml"), "spool:\n  enabled: false\n");
    try {
      await cluster.nodes[0]?.stop();
      const gateway = await startGatewayProcess({
        NATS_URL: cluster.url,
        BUILDCAST_CONFIG: join(dir, "config.yaml"),
      });
      try {
        const ready = (await (await fetch(`${gateway.url}/readyz`)).json()) as Record<string, string>;
        assert.equal(ready.nats, "connected");
        const result = await postFailedRun(gateway.url, 8_000);
        // the spool is off: a 202 means JetStream stored it
        assert.equal(result.status, 202, JSON.stringify(result.body));
        assert.doesNotMatch(gateway.output(), /cannot reach NATS/);
      } finally {
        await gateway.terminate();
      }
    } finally {
      await cluster.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "NATS reached after start but the status store cannot start (status.replicas 3 on one server): webhooks are still stored and the log says why",
  { timeout: 120_000 },
  async () => {
    const nats = await startNats();
    await nats.stop();
    const dir = mkdtempSync(join(tmpdir(), "buildcast-start-replicas-"));
    writeFileSync(join(dir, "config.yaml"), "status:\n  replicas: 3\n");
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      BUILDCAST_CONFIG: join(dir, "config.yaml"),
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
    });
    try {
      await nats.restart();
      await eventually(
        () => /cannot start the status store and notifiers yet/.test(gateway.output()),
        "the failed start logged",
        30_000,
      );
      assert.match(gateway.output(), /status\.replicas and nats\.stream\.replicas cannot exceed/);
      const result = await postFailedRun(gateway.url, 9_000);
      assert.equal(result.status, 202, JSON.stringify(result.body));
      await eventually(async () => (await storedMessages(nats.url)) === 1, "the webhook stored", 30_000);
      const status = await fetch(`${gateway.url}/api/v1/status?repository=acme/api&branch=main`);
      assert.equal(status.status, 503, "no answer from a store that never started");
      assert.equal(gateway.child.exitCode, null, "still running");
    } finally {
      assert.equal(await gateway.terminate(), 0);
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "spool on, a NATS that answers but refuses the credentials: startup still exits 1 (a configuration error, not an outage)",
  { timeout: 60_000 },
  async () => {
    const nats = await startNats(undefined, { args: ["--user", "buildcast", "--pass", "right"] });
    const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-start-spool-"));
    try {
      const wrong = nats.url.replace("nats://", "nats://buildcast:wrong@");
      await assert.rejects(
        startGatewayProcess({ NATS_URL: wrong, BUILDCAST_SPOOL_DIR: spoolDir }),
        (error: Error) =>
          /exited with 1[\s\S]*cannot connect to NATS[^\n]*Authorization Violation/.test(error.message) &&
          !error.message.includes("wrong"),
      );
    } finally {
      await nats.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    }
  },
);
