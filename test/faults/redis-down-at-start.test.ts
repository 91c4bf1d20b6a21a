import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { freePort, startNats, startRedis } from "../helpers/servers.ts";

const SLACK_BOT_TOKEN = "xoxb-redis-start";

test(
  "a Redis whose TLS certificate is not trusted: startup exits 1 and says so, instead of a ready gateway that delivers nothing",
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-tls-"));
    // a self-signed certificate, as a private CA's server would present to a client without that CA
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"].concat([
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ]),
      { stdio: "ignore" },
    );
    const nats = await startNats();
    const port = await freePort();
    const redis = await startRedis(port, {
      args: ["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no"].concat([
        "--tls-cert-file",
        join(dir, "cert.pem"),
        "--tls-key-file",
        join(dir, "key.pem"),
      ]),
    });
    try {
      const started = Date.now();
      const failure = await startGatewayProcess({
        NATS_URL: nats.url,
        REDIS_URL: `rediss://:tls-secret-4711@127.0.0.1:${port}`,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: "http://127.0.0.1:1/api/",
        BUILDCAST_SPOOL_DIR: join(dir, "spool"),
      }).then(
        async (gateway) => {
          await gateway.kill();
          return `started:\n${gateway.output()}`;
        },
        (error: Error) => error.message,
      );
      assert.match(
        failure,
        new RegExp(
          `exited with 1[\\s\\S]*Redis at rediss://:\\*\\*\\*@127\\.0\\.0\\.1:${port}/? refused this gateway: self-signed certificate.*NODE_EXTRA_CA_CERTS`,
        ),
      );
      assert.doesNotMatch(failure, /tls-secret-4711/);
      assert.ok(Date.now() - started < 30_000, "a clear error, not a hang");
    } finally {
      await redis.dispose();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
