import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError, loadConfig } from "../../src/config/load.ts";

test("defaults load with no file and no environment", () => {
  const { config, secrets, explicit, production } = loadConfig({ env: {} });
  assert.equal(config.server.port, 3000);
  assert.equal(config.nats.url, "nats://127.0.0.1:4222");
  assert.equal(config.redis.url, "redis://127.0.0.1:6379");
  assert.equal(config.server.bodyLimit, 25 * 1024 * 1024);
  assert.equal(config.nats.stream.duplicateWindow, 2 * 3600 * 1000);
  assert.deepEqual(secrets.githubWebhookSecrets, []);
  assert.deepEqual(explicit, { natsUrl: false, redisUrl: false });
  assert.equal(production, false);
});

test("file, then environment, override the defaults; secrets split on commas", () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "config.yaml");
    writeFileSync(file, "server:\n  port: 4000\n  bodyLimit: 1mb\nnats:\n  stream:\n    replicas: 3\n");
    const loaded = loadConfig({
      env: {
        BUILDCAST_CONFIG: file,
        PORT: "5000",
        NATS_URL: "nats://n1:4222",
        GITHUB_WEBHOOK_SECRET: "new, old ,",
        NODE_ENV: "production",
      },
    });
    assert.equal(loaded.config.server.port, 5000);
    assert.equal(loaded.config.server.bodyLimit, 1024 * 1024);
    assert.equal(loaded.config.nats.stream.replicas, 3);
    assert.equal(loaded.config.nats.stream.name, "BUILD_EVENTS", "merging keeps sibling defaults");
    assert.deepEqual(loaded.secrets.githubWebhookSecrets, ["new", "old"]);
    assert.equal(loaded.explicit.natsUrl, true);
    assert.equal(loaded.production, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an invalid setting names its path and what is wrong", () => {
  assert.throws(
    () => loadConfig({ env: { PORT: "not-a-port" } }),
    (error: unknown) => error instanceof ConfigError && /server\.port/.test(error.message),
  );
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: { nats: { url: "http://x" }, routes: [{ name: "r", on: ["exploded"] }] },
      }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /nats\.url/.test(error.message) &&
      /routes\.0\.on\.0/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ env: {}, overrides: { server: { colour: "blue" } } }),
    (error: unknown) => error instanceof ConfigError && /colour/.test(error.message),
    "unknown keys are typos, not silently ignored",
  );
});

test("a missing or malformed config file is a clear error", () => {
  assert.throws(
    () => loadConfig({ env: { BUILDCAST_CONFIG: "/nonexistent/buildcast.yaml" } }),
    /cannot read config file/,
  );
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "server: [unclosed\n");
    assert.throws(() => loadConfig({ env: { BUILDCAST_CONFIG: file } }), /not valid YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
