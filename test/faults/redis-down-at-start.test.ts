import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { freePort, startNats, startRedis } from "../helpers/servers.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import { postFailedRun } from "../helpers/synthetic-webhooks.ts";
import { metricSum, slackByRun } from "./burst.ts";

const SLACK_BOT_TOKEN = "xoxb-redis-start";
const REDIS_PASSWORD = "redis-start-secret-4711";
const CHANNEL = "CREDISSTART";
const RUNS = 8;
const FIRST_RUN = 4_100_000;

const readyz = async (gateway: GatewayProcess): Promise<{ status: number; body: Record<string, string> }> => {
  const response = await fetch(`${gateway.url}/readyz`);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
};

for (const role of ["all", "workers"] as const) {
  test(
    `role ${role}, Redis unreachable at start (production, Slack on): the gateway starts, webhooks and statuses work at once, and once Redis answers each run's Slack message arrives exactly once`,
    { timeout: 150_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-start-"));
      // notify.lookback 0: a notify consumer made only when Redis answered would skip every
      // event accepted before; nothing accepted may be lost however long Redis takes
      writeFileSync(
        join(dir, "config.yaml"),
        `routes:\n  - { name: failures, on: [failed], slack: { channel: ${CHANNEL}, mentionAuthor: false } }\n` +
          "notify:\n  lookback: 0s\n",
      );
      const nats = await startNats();
      const redis = await startRedis(undefined, { args: ["--requirepass", REDIS_PASSWORD] });
      await redis.stop();
      const slack = await startSlackServer();
      const redisUrl = `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`;
      const env = {
        NATS_URL: nats.url,
        REDIS_URL: redisUrl,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        BUILDCAST_CONFIG: join(dir, "config.yaml"),
        BUILDCAST_SPOOL_DIR: join(dir, "spool"),
        BUILDCAST_ROLE: role,
      };
      const gateways: GatewayProcess[] = [];
      try {
        const gateway = await startGatewayProcess(env);
        gateways.push(gateway);
        // a workers replica takes no webhooks: an ingress replica (which never uses Redis) does
        const intake =
          role === "all"
            ? gateway
            : await startGatewayProcess({
                ...env,
                BUILDCAST_ROLE: "ingress",
                BUILDCAST_SPOOL_DIR: join(dir, "in"),
              });
        if (intake !== gateway) gateways.push(intake);

        const ready = await readyz(gateway);
        assert.equal(ready.status, 200, JSON.stringify(ready.body));
        assert.equal(ready.body.nats, "connected");
        assert.match(ready.body.redis ?? "", /^unreachable/);
        assert.match(
          gateway.output(),
          new RegExp(
            `cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/?; Slack and e-mail notices start once it answers`,
          ),
        );

        const runIds = Array.from({ length: RUNS }, (_, i) => FIRST_RUN + i);
        for (const [i, runId] of runIds.entries()) {
          // a branch each: every run is a first failure, so each gets its own notice
          const result = await postFailedRun(intake.url, runId, {
            repository: "acme/redis-start",
            branch: `redis-start-${i}`,
          });
          assert.equal(result.status, 202, JSON.stringify(result.body));
          assert.equal((result.body as { spooled?: number }).spooled, 0, "stored by JetStream, not spooled");
        }
        // the status store does not need Redis: every run's status is there at once
        await eventually(
          async () => {
            for (const runId of runIds) {
              const response = await fetch(`${gateway.url}/api/v1/runs/github/${runId}`);
              if (response.status !== 200) return false;
              if (((await response.json()) as { status?: string }).status !== "failure") return false;
            }
            return true;
          },
          "every run's status stored while Redis is away",
          20_000,
        );
        // the events wait on the notify consumer, where BuildcastConsumerLag can see them
        await eventually(
          async () =>
            (await metricSum(gateway.url, "buildcast_consumer_pending_messages", {
              consumer: "notify-slack",
            })) === RUNS,
          "the notify-slack consumer's lag reported",
          20_000,
        );
        assert.equal(slack.accepted("chat.postMessage").length, 0, "no notice without Redis");

        await redis.restart();
        await eventually(
          () => slackByRun(slack, CHANNEL).size === RUNS,
          "a Slack message for every run once Redis answers",
          60_000,
        );
        await eventually(
          async () => (await readyz(gateway)).body.redis === "connected",
          "/readyz says Redis is connected",
          10_000,
        );
        // nothing doubled, also after the consumer settled
        await sleep(2000);
        const byRun = slackByRun(slack, CHANNEL);
        assert.deepEqual(
          [...byRun.keys()].sort((a, b) => a - b),
          runIds,
        );
        for (const [runId, messages] of byRun)
          assert.equal(messages.posts.length, 1, `posts for run ${runId}`);
        assert.equal(slack.accepted("chat.postMessage").length, RUNS);
        assert.match(gateway.output(), /connected to Redis/);
        for (const each of gateways) assert.doesNotMatch(each.output(), new RegExp(REDIS_PASSWORD));
        for (const each of gateways.splice(0)) assert.equal(await each.terminate(), 0, each.output());
      } finally {
        for (const each of gateways) await each.terminate().catch(() => null);
        await slack.close();
        await redis.dispose();
        await nats.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
}

test("SIGTERM while the gateway still waits for Redis: it exits 0 at once", { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-start-"));
  const nats = await startNats();
  const redis = await startRedis();
  await redis.stop();
  try {
    const gateway = await startGatewayProcess({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN,
      SLACK_API_URL: "http://127.0.0.1:1/api/",
      SMTP_URL: "smtp://127.0.0.1:1",
      BUILDCAST_SPOOL_DIR: join(dir, "spool"),
    });
    // into the back-off between tries
    await sleep(2500);
    assert.match((await readyz(gateway)).body.redis ?? "", /^unreachable/);
    const started = Date.now();
    assert.equal(await gateway.terminate(), 0, gateway.output());
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 5000, `shutdown took ${tookMs} ms`);
  } finally {
    await redis.dispose();
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

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

test(
  "Redis unreachable at start that comes back refusing the password: the gateway says so at error level and keeps taking webhooks",
  { timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-start-"));
    const nats = await startNats();
    const redis = await startRedis(undefined, { args: ["--requirepass", "the-right-one"] });
    await redis.stop();
    const wrong = "wrong-redis-password-0815";
    try {
      const gateway = await startGatewayProcess({
        NATS_URL: nats.url,
        REDIS_URL: `redis://:${wrong}@127.0.0.1:${redis.port}`,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: "http://127.0.0.1:1/api/",
        BUILDCAST_SPOOL_DIR: join(dir, "spool"),
      });
      try {
        await redis.restart();
        await eventually(
          () => /"level":"error".*WRONGPASS.*Redis refused this gateway/.test(gateway.output()),
          "the refusal logged",
          30_000,
        );
        const ready = await readyz(gateway);
        assert.equal(ready.status, 200);
        assert.match(ready.body.redis ?? "", /^refused/);
        const result = await postFailedRun(gateway.url, 4_200_000);
        assert.equal(result.status, 202, JSON.stringify(result.body));
        assert.doesNotMatch(gateway.output(), new RegExp(wrong));
      } finally {
        assert.equal(await gateway.terminate(), 0);
      }
    } finally {
      await redis.dispose();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "NATS and Redis both unreachable at start, Redis back first: webhooks are spooled, and once NATS is back too each run's Slack message arrives once",
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "buildcast-redis-start-"));
    writeFileSync(
      join(dir, "config.yaml"),
      `routes:\n  - { name: failures, on: [failed], slack: { channel: ${CHANNEL}, mentionAuthor: false } }\n`,
    );
    const nats = await startNats();
    await nats.stop();
    const redis = await startRedis();
    await redis.stop();
    const slack = await startSlackServer();
    let gateway: GatewayProcess | undefined;
    try {
      gateway = await startGatewayProcess({
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        BUILDCAST_CONFIG: join(dir, "config.yaml"),
        BUILDCAST_SPOOL_DIR: join(dir, "spool"),
      });
      const runIds = [4_400_000, 4_400_001];
      for (const [i, runId] of runIds.entries()) {
        const result = await postFailedRun(gateway.url, runId, { branch: `both-${i}` });
        assert.equal(result.status, 202, JSON.stringify(result.body));
        assert.equal((result.body as { spooled?: number }).spooled, 1);
      }
      await redis.restart();
      const url = gateway.url;
      await eventually(
        async () =>
          /^reachable/.test(
            ((await fetch(`${url}/readyz`).then((r) => r.json())) as Record<string, string>).redis ?? "",
          ),
        "Redis reached while NATS is still away",
        30_000,
      );
      await nats.restart();
      await eventually(() => slackByRun(slack, CHANNEL).size === runIds.length, "every run's notice", 60_000);
      await sleep(2000);
      for (const [runId, messages] of slackByRun(slack, CHANNEL))
        assert.equal(messages.posts.length, 1, `posts for run ${runId}`);
      assert.equal((await readyz(gateway)).body.redis, "connected");
      assert.equal(await gateway.terminate(), 0);
    } finally {
      await gateway?.terminate().catch(() => null);
      await slack.close();
      await redis.dispose();
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
