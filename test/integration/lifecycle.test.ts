import assert from "node:assert/strict";
import { Agent, request } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sign } from "@octokit/webhooks-methods";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { startTestGateway } from "../helpers/gateway.ts";
import { eventually } from "../helpers/poll.ts";
import { startNats, startRedis, type TestServer } from "../helpers/servers.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { GITHUB_SECRET } from "../helpers/webhooks.ts";

/** Runs `work` against the gateway as a child process on private servers, then clears all away. */
async function withGatewayProcess(
  work: (gateway: GatewayProcess, nats: TestServer) => Promise<void>,
): Promise<void> {
  const nats = await startNats();
  const redis = await startRedis();
  const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-lifecycle-"));
  try {
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      BUILDCAST_SPOOL_DIR: spoolDir,
    });
    try {
      await work(gateway, nats);
    } finally {
      await gateway.kill().catch(() => undefined);
    }
  } finally {
    await nats.dispose();
    await redis.dispose();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

test(
  "SIGTERM: an in-flight webhook is still answered and stored, then the process exits 0",
  { timeout: 90_000 },
  async () => {
    await withGatewayProcess(async (gateway, nats) => {
      const body = workflowRun({ runId: 424242, status: "completed", conclusion: "failure", at: 60 });
      const signature = await sign(GITHUB_SECRET, body);
      const half = Math.floor(body.length / 2);
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          `${gateway.url}/webhooks/github`,
          {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
              "x-github-event": "workflow_run",
              "x-hub-signature-256": signature,
            },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => (text += chunk.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on("error", reject);
        req.write(body.slice(0, half));
        // the rest arrives after SIGTERM
        setTimeout(() => req.end(body.slice(half)), 700);
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const exited = gateway.terminate();
      const result = await answer;
      assert.equal(result.status, 202, result.text);
      const code = await exited;
      assert.equal(code, 0, gateway.output());
      assert.match(gateway.output(), /shutting down/);
      // the accepted event is in the stream
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      assert.equal((await jsm.streams.info("BUILD_EVENTS")).state.messages, 1);
      await nc.close();
    });
  },
);

test(
  "SIGTERM with a dashboard's live feed open: the feed is ended and the process exits 0",
  { timeout: 90_000 },
  async () => {
    await withGatewayProcess(async (gateway) => {
      let received = "";
      const ended = new Promise<void>((resolve, reject) => {
        const req = request(`${gateway.url}/api/v1/events`, (res) => {
          assert.equal(res.statusCode, 200);
          res.on("data", (chunk: Buffer) => (received += chunk.toString()));
          res.on("end", () => resolve());
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end();
      });
      while (!received.includes("buildcast live feed")) await new Promise((r) => setTimeout(r, 50));
      const code = await gateway.terminate();
      await ended;
      // without ending the feed, the server waits for it until the shutdown grace runs out: exit 1
      assert.equal(code, 0, gateway.output());
      assert.doesNotMatch(gateway.output(), /grace period exceeded/);
    });
  },
);

test(
  "SIGHUP (the terminal running npm start closed): the gateway shuts down as on SIGTERM and exits 0",
  { timeout: 90_000 },
  async () => {
    await withGatewayProcess(async (gateway) => {
      // Node's default for SIGHUP is to die at once: no drain, and the nats-server and
      // redis-server a development start spawned were left running, holding their ports
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        gateway.child.once("exit", (code, signal) => resolve({ code, signal })),
      );
      gateway.child.kill("SIGHUP");
      const { code, signal } = await exited;
      assert.equal(signal, null, `killed by ${signal ?? ""}:\n${gateway.output()}`);
      assert.equal(code, 0, gateway.output());
      assert.match(gateway.output(), /"signal":"SIGHUP".*"msg":"shutting down"/);
      assert.match(gateway.output(), /"msg":"stopped"/);
    });
  },
);

test("shutdown closes a live feed's connection, not only its stream, so browsers reconnect elsewhere", async () => {
  const gw = await startTestGateway();
  // far beyond the wait below: only closing it on purpose ends the connection sooner
  gw.gateway.server.keepAliveTimeout = 120_000;
  const agent = new Agent({ keepAlive: true });
  let socketClosed = false;
  try {
    await new Promise<void>((resolve, reject) => {
      const req = request(`${gw.url}/api/v1/events`, { agent }, (res) => {
        res.once("data", () => resolve());
      });
      req.on("socket", (socket) => socket.once("close", () => (socketClosed = true)));
      req.on("error", reject);
      req.end();
    });
    const closing = gw.close();
    await eventually(() => socketClosed, "the feed's connection to close", 20_000);
    await closing;
  } finally {
    agent.destroy();
  }
});

test(
  "NODE_ENV=production never starts servers and, with the spool off, says clearly what it could not reach",
  { timeout: 60_000 },
  async () => {
    // with the spool on it would start and spool webhooks: test/faults/nats-down-at-start.test.ts
    const dir = mkdtempSync(join(tmpdir(), "buildcast-lifecycle-nospool-"));
    writeFileSync(join(dir, "config.yaml"), "spool:\n  enabled: false\n");
    try {
      await assert.rejects(
        startGatewayProcess({
          NATS_URL: "nats://127.0.0.1:1",
          REDIS_URL: "redis://127.0.0.1:1",
          BUILDCAST_CONFIG: join(dir, "config.yaml"),
        }),
        (error: Error) => /cannot reach NATS at nats:\/\/127\.0\.0\.1:1/.test(error.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
