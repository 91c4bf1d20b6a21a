import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, type LoadedConfig } from "../../src/config/load.ts";
import { isListening } from "../../src/dev/local-servers.ts";
import { StartupError, startGateway } from "../../src/gateway.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { freePort, startNats, startNatsCluster } from "../helpers/servers.ts";
import { GITHUB_SECRET } from "../helpers/webhooks.ts";

/** Runs `test` with a fresh directory for config, spool and data, removed afterwards. */
async function inTempDir(test: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-devservers-"));
  try {
    await test(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 192.0.2.0/24 is TEST-NET-1: never routed and never a local address, so nothing can bind there. */
const UNBINDABLE = "192.0.2.1";

/** A stack trace line, as an uncaught error prints it. */
const STACK = /^\s+at .+:\d+:\d+\)?$/m;

/**
 * Runs src/main.ts in development with `configYaml` as BUILDCAST_CONFIG and returns what it
 * printed when it exited; a gateway that starts instead is stopped and the test fails.
 */
async function startupFailure(dir: string, configYaml: string): Promise<string> {
  const file = join(dir, "config.yaml");
  writeFileSync(file, `${configYaml}\ndev: { dataDir: "${join(dir, "data")}" }\n`);
  const outcome = await startGatewayProcess({
    NODE_ENV: "development",
    BUILDCAST_CONFIG: file,
    BUILDCAST_SPOOL_DIR: join(dir, "spool"),
  }).then(
    async (gateway) => {
      const output = gateway.output();
      await gateway.terminate();
      return { started: true, output };
    },
    (error: Error) => ({ started: false, output: error.message }),
  );
  assert.equal(outcome.started, false, `the gateway started:\n${outcome.output}`);
  return outcome.output;
}

/** src/main.ts with NATS at `natsHost` and Redis at 127.0.0.1, free ports, named in a config file. */
async function failureWithConfiguredUrls(natsHost: string) {
  const natsPort = await freePort();
  const redisPort = await freePort();
  let output = "";
  await inTempDir(async (dir) => {
    output = await startupFailure(
      dir,
      // with the spool on, an unreachable NATS is an outage to ride out (nats-down-at-start.test.ts)
      `nats: { url: "nats://${natsHost}:${natsPort}" }\nredis: { url: "redis://127.0.0.1:${redisPort}" }\nspool: { enabled: false }`,
    );
  });
  assert.match(output, /^gateway exited with 1:/);
  assert.doesNotMatch(output, STACK);
  return { output, natsPort, redisPort };
}

test(
  "in development, a NATS URL named in a config file gets no local nats-server: with the spool off, startup stops with a clear error",
  { timeout: 60_000 },
  async () => {
    const { output, natsPort, redisPort } = await failureWithConfiguredUrls("127.0.0.1");
    assert.match(output, new RegExp(`cannot reach NATS at nats://127\\.0\\.0\\.1:${natsPort}`));
    assert.match(output, /set NATS_URL \(or nats\.url\)/);
    assert.doesNotMatch(output, /started a local/);
    assert.equal(await isListening("127.0.0.1", natsPort), false);
    assert.equal(await isListening("127.0.0.1", redisPort), false);
  },
);

test(
  "in development, an unreachable NATS host named in a config file is, with the spool off, a startup error, not a stack trace",
  { timeout: 60_000 },
  async () => {
    const { output, natsPort } = await failureWithConfiguredUrls(UNBINDABLE);
    assert.match(output, new RegExp(`cannot reach NATS at nats://192\\.0\\.2\\.1:${natsPort}`));
    assert.doesNotMatch(output, /exited with code/);
  },
);

/**
 * The gateway in-process as it would be for the built-in default URLs (which nothing may
 * listen at here, nor a test start a server on): `explicit` false, so it tries local servers.
 */
function loadAsDefault(
  urls: { nats: string; redis: string },
  dir: string,
  env: Record<string, string> = {},
): LoadedConfig {
  const loaded = loadConfig({
    env,
    overrides: {
      server: { host: "127.0.0.1", port: 0 },
      nats: { url: urls.nats },
      redis: { url: urls.redis },
      dev: { dataDir: join(dir, "data") },
      spool: { dir: join(dir, "spool") },
    },
  });
  return { ...loaded, explicit: { natsUrl: false, redisUrl: false } };
}

const logger = createLogger({ level: "debug", secrets: [], write: () => undefined });

/** The error startGateway fails with (a gateway that starts instead is closed, and null returned). */
async function startupErrorAsDefault(
  urls: { nats: string; redis: string },
  dir: string,
  config?: LoadedConfig["config"],
  env: Record<string, string> = {},
): Promise<unknown> {
  const loaded = loadAsDefault(urls, dir, env);
  try {
    const gateway = await startGateway(config ? { ...loaded, config } : loaded, { logger });
    await gateway.close();
    return null;
  } catch (error) {
    return error;
  }
}

/** e-mail on: the notifiers run, and need Redis (no mail is sent in these tests) */
const WITH_EMAIL = { SMTP_URL: "smtp://127.0.0.1:1" };

/**
 * startGateway for the default URLs on free ports, with e-mail on (so both local servers
 * start) and `change` made to its config: the error it fails with, once the test has checked
 * that the nats-server and redis-server it started were stopped again.
 */
async function failedStart(
  dir: string,
  change: (config: LoadedConfig["config"]) => LoadedConfig["config"],
): Promise<unknown> {
  const natsPort = await freePort();
  const redisPort = await freePort();
  const urls = { nats: `nats://127.0.0.1:${natsPort}`, redis: `redis://127.0.0.1:${redisPort}` };
  const { config } = loadAsDefault(urls, dir, WITH_EMAIL);
  const error = await startupErrorAsDefault(urls, dir, change(config), WITH_EMAIL);
  assert.equal(await isListening("127.0.0.1", natsPort), false, "the local nats-server was stopped");
  assert.equal(await isListening("127.0.0.1", redisPort), false, "the local redis-server was stopped");
  return error;
}

test(
  "for the default URLs with nothing listening, local servers start with the gateway and stop with it",
  { timeout: 60_000 },
  async () => {
    await inTempDir(async (dir) => {
      const natsPort = await freePort();
      const redisPort = await freePort();
      const urls = { nats: `nats://127.0.0.1:${natsPort}`, redis: `redis://127.0.0.1:${redisPort}` };
      // with Slack and e-mail off nothing uses Redis, so no redis-server is started for it
      const quiet = await startGateway(loadAsDefault(urls, dir), { logger });
      try {
        assert.equal(await isListening("127.0.0.1", natsPort), true);
        assert.equal(await isListening("127.0.0.1", redisPort), false, "no redis-server without notices");
      } finally {
        await quiet.close();
      }
      const gateway = await startGateway(loadAsDefault(urls, dir, WITH_EMAIL), { logger });
      try {
        assert.equal(await isListening("127.0.0.1", natsPort), true);
        assert.equal(await isListening("127.0.0.1", redisPort), true);
      } finally {
        await gateway.close();
      }
      assert.equal(await isListening("127.0.0.1", natsPort), false, "nats-server stopped with the gateway");
      assert.equal(await isListening("127.0.0.1", redisPort), false, "redis-server stopped with the gateway");
    });
  },
);

test(
  "a start that fails after the local servers came up stops them and says why (status.replicas: 3 on one server)",
  { timeout: 60_000 },
  async () => {
    await inTempDir(async (dir) => {
      const error = await failedStart(dir, (config) => ({
        ...config,
        status: { ...config.status, replicas: 3 },
      }));
      assert.ok(error instanceof StartupError, String(error));
      assert.match(error.message, /cannot start the status store and notifiers: .*replicas/);
      assert.match(error.message, /cannot exceed the number of NATS servers/);
    });
  },
);

test(
  "a spool directory that cannot be created is a StartupError naming it, and the local servers stop",
  { timeout: 60_000 },
  async () => {
    await inTempDir(async (dir) => {
      writeFileSync(join(dir, "a-file"), "");
      const spoolDir = join(dir, "a-file", "spool"); // below a file: mkdir fails, as on a read-only root
      const error = await failedStart(dir, (config) => ({
        ...config,
        spool: { ...config.spool, dir: spoolDir },
      }));
      assert.ok(error instanceof StartupError, String(error));
      assert.match(
        error.message,
        new RegExp(`cannot use the spool directory ${spoolDir}: .*BUILDCAST_SPOOL_DIR`),
      );
    });
  },
);

/**
 * What `npm start` prints and its exit code, with `BUILDCAST_SPOOL_DIR` as given and NATS at
 * `natsUrl`; `null` as the code when it was still running after 20 s.
 */
async function startWithSpoolDir(
  natsUrl: string,
  spoolDir: string,
): Promise<{ code: number | null; output: string }> {
  const result = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: join(import.meta.dirname, "../.."),
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "production",
      PORT: String(await freePort()),
      HOST: "127.0.0.1",
      NATS_URL: natsUrl,
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      BUILDCAST_SPOOL_DIR: spoolDir,
    },
    encoding: "utf8",
    timeout: 20_000,
    killSignal: "SIGKILL",
  });
  return { code: result.signal === null ? result.status : null, output: `${result.stdout}${result.stderr}` };
}

test(
  "a spool directory that cannot be made or written in stops startup at once, saying which and why",
  { timeout: 120_000 },
  async () => {
    const nats = await startNats();
    await inTempDir(async (dir) => {
      writeFileSync(join(dir, "a-file"), "");
      for (const [spoolDir, why] of [
        // procfs answers ENOENT to a mkdir under /proc: Node's recursive mkdir retried it forever
        ["/proc/x", /cannot create it: ENOENT/],
        [join(dir, "a-file"), /it is not a directory/],
        // a directory that exists but takes no files, as on a read-only file system
        ["/proc", /cannot write a file in it: ENOENT/],
      ] as const) {
        const started = Date.now();
        const { code, output } = await startWithSpoolDir(nats.url, spoolDir);
        assert.equal(code, 1, `${spoolDir}: exit code ${code} after ${Date.now() - started} ms:\n${output}`);
        assert.match(output, new RegExp(`cannot use the spool directory ${spoolDir}: `), output);
        assert.match(output, why, output);
        assert.match(output, /BUILDCAST_SPOOL_DIR/);
        assert.doesNotMatch(output, new RegExp(GITHUB_SECRET));
      }
    }).finally(() => nats.dispose());
  },
);

test(
  "nats.stream.replicas: 3 on one server is not blamed on a missing -js",
  { timeout: 60_000 },
  async () => {
    await inTempDir(async (dir) => {
      const error = await failedStart(dir, (config) => ({
        ...config,
        nats: { ...config.nats, stream: { ...config.nats.stream, replicas: 3 } },
      }));
      assert.ok(error instanceof StartupError, String(error));
      assert.match(error.message, /JetStream is not usable .*cannot exceed the number of NATS servers/);
      assert.doesNotMatch(error.message, /-js\?/);
    });
  },
);

test(
  "nats.stream.replicas above a cluster's servers is not blamed on a missing -js either",
  { timeout: 90_000 },
  async () => {
    // a cluster answers "no suitable peers for placement", with no word of replicas in it
    const cluster = await startNatsCluster(2);
    try {
      await inTempDir(async (dir) => {
        const urls = { nats: cluster.url, redis: `redis://127.0.0.1:${await freePort()}` };
        const { config } = loadAsDefault(urls, dir);
        const error = await startupErrorAsDefault(urls, dir, {
          ...config,
          nats: { ...config.nats, stream: { ...config.nats.stream, replicas: 3 } },
        });
        assert.ok(error instanceof StartupError, String(error));
        assert.match(error.message, /JetStream is not usable .*cannot exceed the number of NATS servers/);
        assert.doesNotMatch(error.message, /-js\?/);
      });
    } finally {
      await cluster.dispose();
    }
  },
);

test("a local nats-server that cannot start is a StartupError saying why and what to do", async () => {
  await inTempDir(async (dir) => {
    const natsPort = await freePort();
    const error = await startupErrorAsDefault(
      { nats: `nats://${UNBINDABLE}:${natsPort}`, redis: `redis://127.0.0.1:${await freePort()}` },
      dir,
    );
    assert.ok(error instanceof StartupError, `not a StartupError: ${String(error)}`);
    assert.match(
      error.message,
      new RegExp(`a local nats-server on 192\\.0\\.2\\.1:${natsPort} failed to start`),
    );
    assert.match(
      error.message,
      /it exited with code 1 \(it said: .*192\.0\.2\.1/,
      "nats-server's own reason",
    );
    assert.match(error.message, /start nats-server yourself .*or set NATS_URL to a running server/);
  });
});

test("a local redis-server that cannot start is a StartupError too", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-devservers-"));
  const nats = await startNats();
  try {
    const redisPort = await freePort();
    const error = await startupErrorAsDefault(
      { nats: nats.url, redis: `redis://${UNBINDABLE}:${redisPort}` },
      dir,
      undefined,
      WITH_EMAIL,
    );
    assert.ok(error instanceof StartupError, `not a StartupError: ${String(error)}`);
    assert.match(
      error.message,
      new RegExp(`a local redis-server on 192\\.0\\.2\\.1:${redisPort} failed to start`),
    );
    assert.match(error.message, /start redis-server yourself .*or set REDIS_URL to a running server/);
  } finally {
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a server binary that is not installed is a StartupError pointing at npm run setup", async () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-devservers-"));
  const path = process.env.PATH;
  process.env.PATH = join(dir, "empty-bin");
  try {
    const error = await startupErrorAsDefault(
      { nats: `nats://127.0.0.1:${await freePort()}`, redis: `redis://127.0.0.1:${await freePort()}` },
      dir,
    );
    assert.ok(error instanceof StartupError, `not a StartupError: ${String(error)}`);
    assert.match(error.message, /nats-server could not be run \(spawn nats-server ENOENT\)/);
    assert.match(error.message, /npm run setup installs it/);
  } finally {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  }
});
