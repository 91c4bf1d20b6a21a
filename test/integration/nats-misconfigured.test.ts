import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load.ts";
import { StartupError, startGateway } from "../../src/gateway.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { freePort, startNats, waitForPort } from "../helpers/servers.ts";

const logger = createLogger({ level: "silent", secrets: [] });

/** What startGateway fails with against this NATS URL (spool on, as by default). */
async function startupError(natsUrl: string): Promise<unknown> {
  const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-nats-misconfigured-"));
  try {
    const loaded = loadConfig({
      env: { NATS_URL: natsUrl, GITHUB_WEBHOOK_SECRET: "a-secret" },
      overrides: {
        server: { host: "127.0.0.1", port: 0 },
        spool: { dir: spoolDir },
        dev: { startServers: false },
      },
    });
    const gateway = await startGateway(loaded, { logger });
    await gateway.close();
    return null;
  } catch (error) {
    return error;
  } finally {
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

test("a NATS without JetStream stops startup saying how to turn JetStream on", async () => {
  // what a first `npm start` meets when a plain nats-server (no -js) already listens on 4222
  const port = await freePort();
  const plain = spawn("nats-server", ["-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  try {
    await waitForPort(port);
    const error = await startupError(`nats://127.0.0.1:${port}`);
    assert.ok(error instanceof StartupError, String(error));
    assert.match(error.message, /jetstream is not enabled/);
    assert.match(
      error.message,
      /start nats-server with -js \(or jetstream \{\} in its configuration\), or set NATS_URL \(or nats\.url\) to a server with JetStream$/,
    );
  } finally {
    plain.kill();
  }
});

test("a NATS that refuses the credentials stops startup naming where they are set, never their value", async () => {
  const nats = await startNats(undefined, { args: ["--user", "buildcast", "--pass", "right-password"] });
  try {
    const error = await startupError(`nats://buildcast:wrong-password@127.0.0.1:${nats.port}`);
    assert.ok(error instanceof StartupError, String(error));
    assert.match(error.message, /Authorization Violation/i);
    assert.match(error.message, /check the user and password or token in NATS_URL \(or nats\.url\)$/);
    assert.doesNotMatch(error.message, /wrong-password|right-password/);
  } finally {
    await nats.dispose();
  }
});
