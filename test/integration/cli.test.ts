import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { Redis } from "ioredis";
import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { startConsumer } from "../../src/bus/consume.ts";
import { ensureDurableConsumer, ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { buildEvent, publishEvent } from "../helpers/events.ts";
import { startIngress, type IngressHarness } from "../helpers/ingress.ts";
import { freePort, startNats, startRedis, type TestServer } from "../helpers/servers.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";
import { FIXTURES, GITHUB_SECRET, GITLAB_TOKEN } from "../helpers/webhooks.ts";

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const MAIN = join(import.meta.dirname, "../../src/cli/main.ts");
/** the variables the CLI reads, cleared so the developer's shell cannot change a result */
const CLEAN_ENV = {
  BUILDCAST_CONFIG: "",
  GITHUB_WEBHOOK_SECRET: "",
  GITLAB_WEBHOOK_TOKEN: "",
  SLACK_BOT_TOKEN: "",
  SMTP_URL: "",
  SLACK_API_URL: "",
  NATS_URL: "",
};

/** Runs the CLI as an operator would: its own process, its exit code, its output. */
function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN, ...args],
      { env: { ...process.env, ...CLEAN_ENV, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const tmp = mkdtempSync(join(tmpdir(), "buildcast-cli-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function writeConfig(name: string, yaml: string): string {
  const file = join(tmp, name);
  writeFileSync(file, yaml);
  return file;
}

/**
 * A port that takes connections and never says a word: a load balancer with no backend, a
 * firewall that holds the connection, another service's port. Closing it drops what it holds.
 */
async function startSilentServer(): Promise<{ readonly port: number; close(): Promise<void> }> {
  const held = new Set<Socket>();
  const server = createTcpServer((socket) => {
    held.add(socket);
    socket.on("close", () => held.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test("output piped into a reader that has gone (| head, | true): no stack trace", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "config", "check"], {
    env: { ...process.env, ...CLEAN_ENV },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.destroy(); // the reader leaves before a line is written
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled 'error' event|\n\s+at /);
  assert.equal(code, 0);
});

describe("config check --connect", () => {
  let slack: SlackServer;
  let smtp: SmtpSink;
  const token = "xoxb-connect-check-secret-4711";
  const slackRoute = (name: string, channel: string) =>
    [`  - name: ${name}`, `    slack: { channel: "${channel}" }`].join("\n");
  before(async () => {
    slack = await startSlackServer();
    smtp = await startSmtpSink();
  });
  after(async () => {
    await slack.close();
    await smtp.close();
  });

  test("Slack takes the token and the bot is in every channel, SMTP answers: exit 0", async () => {
    const file = writeConfig(
      "connect-good.yaml",
      ["routes:", slackRoute("a", "C0MEMBER1"), "    email: { to: [team@example.com] }"].join("\n"),
    );
    const result = await runCli(["config", "check", "--connect", file], {
      SLACK_BOT_TOKEN: token,
      SLACK_API_URL: slack.apiUrl,
      SMTP_URL: smtp.url,
    });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /ok\s+slack token\s+accepted \(workspace buildcast test, bot user buildcast\)/,
    );
    assert.match(result.stdout, /ok\s+slack channel C0MEMBER1\s+#c0member1, the bot is a member/);
    assert.match(result.stdout, /ok\s+smtp\s+127\.0\.0\.1:\d+ took the connection/);
    assert.ok(!result.stdout.includes(token));
    assert.deepEqual(
      slack.calls.map((call) => [call.method, call.token]),
      [
        ["auth.test", token],
        ["conversations.info", token],
      ],
    );
  });

  test("each channel says what is wrong with it; exit 1", async () => {
    slack.setChannel("C0OUTSIDE", { member: false });
    slack.setChannel("G0PRIVATE", { private: true });
    slack.failChannel("C0GONE01", "channel_not_found");
    slack.setScopes(["chat:write", "channels:read", "channels:history"]);
    const file = writeConfig(
      "connect-channels.yaml",
      [
        "routes:",
        slackRoute("in", "C0MEMBER1"),
        slackRoute("outside", "C0OUTSIDE"),
        slackRoute("private", "G0PRIVATE"),
        slackRoute("gone", "C0GONE01"),
        slackRoute("named", "#builds"),
      ].join("\n"),
    );
    const result = await runCli(["config", "check", "--connect", file], {
      SLACK_BOT_TOKEN: token,
      SLACK_API_URL: slack.apiUrl,
    });
    slack.setScopes(null);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /ok\s+slack channel C0MEMBER1/);
    assert.match(
      result.stdout,
      /FAIL\s+slack channel C0OUTSIDE\s+the bot is not a member of #c0outside: invite it \(\/invite @buildcast/,
    );
    assert.match(
      result.stdout,
      /FAIL\s+slack channel G0PRIVATE\s+cannot look at the channel: the token lacks the groups:read scope \(the token has chat:write,channels:read,channels:history\)/,
    );
    assert.match(result.stdout, /FAIL\s+slack channel C0GONE01\s+not found/);
    assert.match(result.stdout, /skip\s+slack channel #builds\s+a name, not a channel id/);
    assert.match(result.stdout, /skip\s+smtp\s+SMTP_URL is not set/);
  });

  test("a token Slack refuses and an SMTP server that does not answer: said, without the secrets; exit 1", async () => {
    slack.refuseToken("token_revoked");
    const port = await freePort();
    const password = "smtp-password-4711";
    const file = writeConfig("connect-refused.yaml", ["routes:", slackRoute("a", "C0MEMBER1")].join("\n"));
    const result = await runCli(["config", "check", "--connect", file], {
      SLACK_BOT_TOKEN: token,
      SLACK_API_URL: slack.apiUrl,
      SMTP_URL: `smtp://mailer:${password}@127.0.0.1:${port}`,
    });
    slack.refuseToken(null);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /FAIL\s+slack token\s+refused \(token_revoked\): .*reinstall the app/);
    assert.match(result.stdout, /skip\s+slack channel C0MEMBER1\s+not checked: the token was not accepted/);
    assert.match(result.stdout, /FAIL\s+smtp\s+127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token));
    assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password));
  });
});

describe("config check", () => {
  test("a valid file: exit 0, the routes it applies, channel switches without secret values", async () => {
    const file = writeConfig(
      "good.yaml",
      [
        "routes:",
        "  - name: main-breakage",
        "    match: { repositories: ['acme/*'], branches: [main] }",
        "    on: [failed, fixed]",
        "    slack: { channel: C0123456 }",
        "    email: { to: [team@example.com], author: true }",
        "  - name: deploys",
        "    match: { kinds: [deployment] }",
        "    on: [failed]",
        "    slack: { channel: C0DEPLOY }",
      ].join("\n"),
    );
    const token = "xoxb-very-secret-token-value";
    const result = await runCli(["config", "check", file], { SLACK_BOT_TOKEN: token });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /configuration is valid/);
    assert.match(result.stdout, /main-breakage/);
    assert.match(result.stdout, /repositories acme\/\*; branches main; kinds pipeline/);
    assert.match(result.stdout, /C0123456/);
    assert.match(result.stdout, /team@example\.com, commit author/);
    assert.match(result.stdout, /deploys/);
    assert.match(result.stdout, /kinds deployment/);
    assert.match(result.stdout, /slack\s+on\s+\(SLACK_BOT_TOKEN is set\)/);
    assert.match(result.stdout, /email\s+off \(SMTP_URL is not set\)/);
    assert.match(result.stdout, /route "main-breakage" sends e-mail, but SMTP_URL is not set/);
    assert.ok(!result.stdout.includes(token), "the token value must never be printed");
    assert.ok(!result.stdout.includes("\u001b["), "piped output has no colour codes");
  });

  test("an invalid file: exit 1 and every bad setting named by its path", async () => {
    const file = writeConfig(
      "bad.yaml",
      ["server: { port: seventy }", "routes:", "  - name: x", "    on: [exploded]", "  - name: y"].join("\n"),
    );
    const result = await runCli(["config", "check", file]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /server\.port: .*expected number/);
    assert.match(result.stderr, /routes\.0\.on\.0: Invalid option/);
    assert.match(result.stderr, /routes\.1: a route needs a slack or an email target/);
  });

  test("a missing file and broken YAML: exit 1 with the reason", async () => {
    const missing = await runCli(["config", "check", join(tmp, "nope.yaml")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read config file .*nope\.yaml: ENOENT/);
    const broken = await runCli(["config", "check", writeConfig("broken.yaml", "routes: [\n")]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /is not valid YAML/);
  });
});

describe("send", () => {
  let nats: TestServer;
  let ingress: IngressHarness;
  const messages = async (): Promise<number> =>
    (await ingress.bus.jsm.streams.info("BUILD_EVENTS")).state.messages;
  before(async () => {
    nats = await startNats();
    ingress = await startIngress(nats, null);
  });
  after(async () => {
    await ingress.close();
    await nats.dispose();
  });

  test("a GitHub fixture signed with the first GITHUB_WEBHOOK_SECRET value is accepted", async () => {
    const before = await messages();
    const result = await runCli(
      ["send", join(FIXTURES, "github/workflow_run.completed.1.json"), "--url", ingress.url],
      { GITHUB_WEBHOOK_SECRET: `${GITHUB_SECRET},old-secret` },
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /\/webhooks\/github \(workflow_run\) → 202/);
    const answer = JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))) as { accepted: number };
    assert.equal(answer.accepted, 1);
    assert.equal(await messages(), before + 1);
  });

  test("a GitLab fixture: provider and event header inferred, token sent", async () => {
    const before = await messages();
    const result = await runCli(
      ["send", join(FIXTURES, "gitlab/pipeline.nuecagram-real.failed.json"), "--url", ingress.url],
      { GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN },
    );
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /\/webhooks\/gitlab \(Pipeline Hook\) → 202/);
    // the finished pipeline and its five finished jobs
    assert.equal(await messages(), before + 6);
  });

  test("a wrong secret: the gateway's 401 is printed and the exit status is 1", async () => {
    const result = await runCli([
      "send",
      join(FIXTURES, "github/workflow_run.completed.1.json"),
      "--event",
      "workflow_run",
      "--url",
      ingress.url,
      "--secret",
      "not-the-secret",
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /→ 401/);
    assert.match(result.stdout, /"error"/);
  });

  test("no secret anywhere, or no gateway listening: a clear message, non-zero exit", async () => {
    const fixture = join(FIXTURES, "github/workflow_run.completed.1.json");
    const noSecret = await runCli(["send", fixture, "--url", ingress.url]);
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.stderr, /set GITHUB_WEBHOOK_SECRET or pass --secret/);
    const unreachable = await runCli(["send", fixture, "--url", "http://127.0.0.1:9", "--secret", "x"]);
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, /POST http:\/\/127\.0\.0\.1:9\/webhooks\/github failed/);
    assert.match(unreachable.stderr, /is a gateway listening there\? Point --url at it/);
  });

  test("a --url that takes the connection but never answers: given up after 10 s, as GitHub does; exit 2", async () => {
    const silent = await startSilentServer();
    try {
      const fixture = join(FIXTURES, "github/workflow_run.completed.1.json");
      const url = `http://127.0.0.1:${silent.port}`;
      const result = await runCli(["send", fixture, "--url", url, "--secret", "x"]);
      assert.equal(result.code, 2, `the CLI did not give up by itself: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(
          `POST ${url}/webhooks/github: no answer within 10 s \\(GitHub and GitLab give up then too\\)`,
        ),
      );
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    } finally {
      await silent.close();
    }
  });

  test("a gateway URL with a user and password: sent as basic auth, as GitHub does, and never printed", async () => {
    // a proxy in front of the gateway asking for basic auth, like a payload URL https://user:pass@…
    const seen: Array<string | undefined> = [];
    const proxy = createServer((req, res) => {
      seen.push(req.headers.authorization);
      const allowed =
        req.headers.authorization === `Basic ${Buffer.from("ops:p@ss word").toString("base64")}`;
      res.writeHead(allowed ? 202 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(allowed ? { accepted: 1 } : { error: "unauthorized" }));
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const fixture = join(FIXTURES, "github/workflow_run.completed.1.json");
      const result = await runCli(
        ["send", fixture, "--url", `http://ops:p%40ss%20word@127.0.0.1:${port}`, "--secret", "x"],
        {},
      );
      assert.equal(result.code, 0, result.stderr + result.stdout);
      assert.equal(seen.length, 1);
      assert.match(result.stdout, new RegExp(`POST http://127\\.0\\.0\\.1:${port}/webhooks/github .*→ 202`));
      assert.doesNotMatch(result.stdout + result.stderr, /p%40ss|p@ss/, "the password is not printed");

      const notHttp = await runCli(["send", fixture, "--url", "localhost:3000", "--secret", "x"]);
      assert.equal(notHttp.code, 1, "a mistyped URL is not an unreachable gateway");
      assert.match(notHttp.stderr, /--url "localhost:3000" is not an http\(s\) URL/);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});

describe("replay", () => {
  let nats: TestServer;
  let bus: Bus;
  let since: Date;
  const STREAM = "BUILD_EVENTS";
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", secrets: [], write: (line) => logs.push(line) });
  const consumerSettings = (durable: string) => ({
    stream: STREAM,
    durable,
    maxDeliver: 5,
    ackWaitMs: 30_000,
  });

  before(async () => {
    nats = await startNats();
    bus = await connectBus(nats.url, logger);
    await ensureStreams(bus.jsm, loadConfig({ env: {} }).config.nats.stream);
    for (let i = 0; i < 6; i++) await publishEvent(bus.js, buildEvent({ runId: `old-${i}` }));
    await new Promise((resolve) => setTimeout(resolve, 1100));
    since = new Date();
    for (let i = 0; i < 4; i++) await publishEvent(bus.js, buildEvent({ runId: `new-${i}` }));
  });
  after(async () => {
    await bus.close();
    await nats.dispose();
  });

  async function ackEverything(durable: string): Promise<void> {
    const consumer = await bus.js.consumers.get(STREAM, durable);
    const batch = await consumer.fetch({ max_messages: 100, expires: 1000 });
    for await (const msg of batch) await msg.ackAck();
    assert.equal((await bus.jsm.consumers.info(STREAM, durable)).num_pending, 0);
  }

  test("--no-wait recreates a caught-up durable at --since: only the newer events are pending again", async () => {
    await ensureDurableConsumer(bus.jsm, consumerSettings("status-store"));
    await ackEverything("status-store");
    const result = await runCli([
      "replay",
      "--since",
      since.toISOString(),
      "--consumer",
      "status-store",
      "--nats",
      nats.url,
      "--no-wait",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /status-store: recreated from .*; 4 messages to deliver/);
    const info = await bus.jsm.consumers.info(STREAM, "status-store");
    assert.equal(info.num_pending, 4);
    assert.equal(info.config.deliver_policy, DeliverPolicy.StartTime);
    assert.equal(info.config.max_deliver, 5, "the consumer keeps its settings");
    assert.equal(info.config.ack_wait, 30_000 * 1_000_000);
  });

  test("unacked events older than --since are not skipped: the start moves back to them", async () => {
    await ensureDurableConsumer(bus.jsm, consumerSettings("notify-email"));
    const result = await runCli([
      "replay",
      "--since",
      since.toISOString(),
      "--consumer",
      "notify-email",
      "--nats",
      nats.url,
      "--no-wait",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /from stream sequence 1 \(an unacked message older than/);
    assert.equal((await bus.jsm.consumers.info(STREAM, "notify-email")).num_pending, 10);
  });

  test("an unknown consumer and a bad --since are refused", async () => {
    const unknown = await runCli(["replay", "--since", "1h", "--consumer", "nope", "--nats", nats.url]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /no consumer "nope" on stream BUILD_EVENTS; durable consumers: .*status-store/,
    );
    const bad = await runCli(["replay", "--since", "yesterday", "--nats", nats.url]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /neither a duration/);
  });

  test("by default only buildcast's consumers are replayed, not a durable another team made on the stream", async () => {
    // docs/events.md asks readers of the stream for a durable consumer of their own
    await bus.jsm.consumers.add(STREAM, {
      durable_name: "their-dashboard",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    await ackEverything("their-dashboard");
    await ensureDurableConsumer(bus.jsm, consumerSettings("status-store"));
    const theirs = await bus.jsm.consumers.info(STREAM, "their-dashboard");
    const result = await runCli(["replay", "--since", "1h", "--nats", nats.url, "--no-wait"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /status-store: recreated/);
    assert.doesNotMatch(result.stdout, /their-dashboard/);
    const after = await bus.jsm.consumers.info(STREAM, "their-dashboard");
    assert.equal(after.created, theirs.created, "their consumer was left as it was");
    assert.equal(after.num_pending, 0, "and is not handed its events again");

    // named on purpose, it is replayed like any other
    const named = await runCli([
      "replay",
      "--since",
      "1h",
      "--consumer",
      "their-dashboard",
      "--nats",
      nats.url,
      "--no-wait",
    ]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /their-dashboard: recreated/);
    await bus.jsm.consumers.delete(STREAM, "their-dashboard");
  });

  test("a mistyped consumer among several: nothing is recreated, not the ones named before it", async () => {
    await ensureDurableConsumer(bus.jsm, consumerSettings("status-store"));
    const before = await bus.jsm.consumers.info(STREAM, "status-store");
    const result = await runCli([
      "replay",
      "--since",
      "1h",
      "--consumer",
      "status-store",
      "notify-slak",
      "--nats",
      nats.url,
      "--no-wait",
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no consumer "notify-slak" on stream BUILD_EVENTS; durable consumers: /);
    assert.doesNotMatch(result.stdout, /recreated/);
    const after = await bus.jsm.consumers.info(STREAM, "status-store");
    assert.equal(after.created, before.created, "status-store was left as it was");
  });

  test("a NATS without the stream: the message names the stream and the server, and what to check", async () => {
    const config = writeConfig("other-stream.yaml", "nats: { stream: { name: OTHER_EVENTS } }\n");
    for (const consumers of [[], ["--consumer", "status-store"]]) {
      const result = await runCli([
        "replay",
        "--since",
        "1h",
        "--config",
        config,
        "--nats",
        nats.url,
        "--no-wait",
        ...consumers,
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /no stream OTHER_EVENTS at nats:\/\/127\.0\.0\.1:\d+/);
      assert.match(result.stderr, /nats\.stream\.name/);
    }
  });

  test("no NATS at the URL: the message names the server (without its password) and how to point elsewhere", async () => {
    const url = `nats://buildcast:hunter2@127.0.0.1:${await freePort()}`;
    const result = await runCli(["replay", "--since", "1h", "--no-wait"], { NATS_URL: url });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot reach NATS at nats:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:\d+/);
    assert.match(result.stderr, /--nats, NATS_URL or nats\.url/);
    assert.doesNotMatch(result.stderr, /hunter2|\n\s+at /, "no password, no stack trace");
  });

  test("a port that takes the connection but never answers as NATS: the CLI says so and exits", async () => {
    const silent = await startSilentServer();
    try {
      const result = await runCli([
        "replay",
        "--since",
        "1h",
        "--nats",
        `nats://127.0.0.1:${silent.port}`,
        "--no-wait",
      ]);
      assert.equal(result.code, 1, `the CLI did not exit by itself: ${result.stderr}`);
      assert.match(result.stderr, /cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+\/?: timeout/);
    } finally {
      await silent.close();
    }
  });

  test("a running consumer re-attaches to the recreated durable and the CLI waits until it caught up", async () => {
    const seen: string[] = [];
    await ensureDurableConsumer(bus.jsm, consumerSettings("notify-slack"));
    const running = await startConsumer({
      js: bus.js,
      jsm: bus.jsm,
      stream: STREAM,
      durable: "notify-slack",
      maxDeliver: 5,
      ackWaitMs: 30_000,
      handle: (event) => {
        seen.push(event.data.run.id);
        return Promise.resolve();
      },
      logger,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (seen.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, 10, "the consumer first handles every event once");
      const started = Date.now();
      const result = await runCli([
        "replay",
        "--since",
        since.toISOString(),
        "--consumer",
        "notify-slack",
        "--nats",
        nats.url,
        "--timeout",
        "90s",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /replay done: notify-slack caught up/);
      // not a terminal: the progress still shows, as lines, and never as NaN or Infinity
      assert.match(result.stderr, /replaying \[.*\] \d+\/\d+ messages \| (\S+) left/);
      assert.doesNotMatch(result.stderr, /NULL|INF|NaN/);
      assert.deepEqual(seen.slice(10).sort(), ["new-0", "new-1", "new-2", "new-3"]);
      const info = await bus.jsm.consumers.info(STREAM, "notify-slack");
      assert.equal(info.num_pending + info.num_ack_pending, 0);
      console.log(`re-attach and replay took ${Date.now() - started} ms`);
    } finally {
      await running.stop();
    }
  });
});

describe("dead-letters", () => {
  test("a Redis that refuses the password: the message says so, not just 'cannot reach'", async () => {
    const redis = await startRedis(undefined, { args: ["--requirepass", "right-password"] });
    try {
      const wrong = await runCli(["dead-letters", "list"], {
        REDIS_URL: `redis://:hunter2@127.0.0.1:${redis.port}`,
      });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/?: WRONGPASS/);
      assert.match(wrong.stderr, /check REDIS_URL/);
      assert.doesNotMatch(wrong.stderr, /hunter2/);
      const right = await runCli(["dead-letters", "list"], {
        REDIS_URL: `redis://:right-password@127.0.0.1:${redis.port}`,
      });
      assert.equal(right.code, 0, right.stderr);
      assert.match(right.stdout, /no dead letters/);
    } finally {
      await redis.dispose();
    }
  });

  test("a dead letter whose route is gone is refused, exit 1, unless --old-target; the others are retried", async () => {
    // route gone was removed after the notices to it died; route builds is still there
    const redis = await startRedis();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAMES.slack, { connection, prefix: "buildcast" });
    const worker = new Worker(
      QUEUE_NAMES.slack,
      () => Promise.reject(new UnrecoverableError("slack chat.postMessage: channel_not_found")),
      { connection, prefix: "buildcast" },
    );
    try {
      await queue.add("deliver", { slackChannel: "C0OLDID01", route: "gone", entityKey: "github/1/100" });
      await queue.add("deliver", { slackChannel: "C0NEWID01", route: "builds", entityKey: "github/1/101" });
      const deadline = Date.now() + 10_000;
      while ((await queue.getFailedCount()) < 2 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      await worker.close();
      const config = writeConfig(
        "corrected-route.yaml",
        ["routes:", "  - name: builds", '    slack: { channel: "C0NEWID01" }'].join("\n"),
      );
      const env = { REDIS_URL: redis.url, BUILDCAST_CONFIG: config };
      const one = await runCli(["dead-letters", "retry", "slack:1"], env);
      assert.equal(one.code, 1, one.stderr);
      assert.doesNotMatch(one.stdout, /slack:1/);
      assert.match(
        one.stderr,
        /not retried: slack:1: its route gone is not in .*corrected-route\.yaml, so it goes nowhere now .*--old-target sends it to C0OLDID01 as before/,
      );
      assert.match(one.stderr, /1 dead letter not retried: its route is gone/);
      const all = await runCli(["dead-letters", "retry", "--all"], env);
      assert.equal(all.code, 1, all.stderr);
      assert.match(all.stdout, /slack:2/);
      assert.doesNotMatch(all.stdout, /slack:1/);
      assert.doesNotMatch(all.stderr, /slack:2/);
      assert.equal(await queue.getFailedCount(), 1);
      const forced = await runCli(["dead-letters", "retry", "slack:1", "--old-target"], env);
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(forced.stdout, /slack:1/);
      assert.equal(await queue.getFailedCount(), 0);
      const job = await queue.getJob("1");
      assert.equal((job?.data as { retryTarget?: string } | undefined)?.retryTarget, "previous");
    } finally {
      await worker.close();
      await queue.close();
      await connection.quit();
      await redis.dispose();
    }
  });
});
