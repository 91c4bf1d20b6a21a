import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Command } from "commander";
import { Redis } from "ioredis";
import { registerDeadLetters } from "../../src/cli/commands/dead-letters.ts";
import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig } from "../../src/config/load.ts";
import { DeadLetters, type DeadLetter } from "../../src/notify/dead-letters.ts";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import { createNotifyService, type NotifyService } from "../../src/notify/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { minuteRun, publishEvents } from "../helpers/events.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startNats, startRedis, type TestServer } from "../helpers/servers.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";

const tmp = mkdtempSync(join(tmpdir(), "buildcast-dead-letters-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A gateway's config file: one Slack route per [name, channel], each for repository acme/<name>. */
function routesFile(file: string, routes: ReadonlyArray<readonly [string, string]>): string {
  const lines = ["routes:"];
  for (const [name, channel] of routes) {
    lines.push(
      `  - name: ${name}`,
      `    match: { repositories: ["acme/${name}"] }`,
      `    slack: { channel: "${channel}" }`,
    );
  }
  const path = join(tmp, file);
  writeFileSync(path, lines.join("\n"));
  return path;
}

let nats: TestServer;
let redis: TestServer;
let slack: SlackServer;
let smtp: SmtpSink;
let bus: Bus;
let service: NotifyService | undefined;

/** The notify service as the gateway runs it with `file`; the one before is stopped first (a restart). */
async function startGateway(file: string): Promise<void> {
  await service?.stop();
  const loaded = loadConfig({
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: "xoxb-test",
      SLACK_API_URL: slack.apiUrl,
      SMTP_URL: smtp.url,
    },
    file,
    overrides: {
      dev: { startServers: false },
      notify: {
        slack: { apiUrl: slack.apiUrl, minInterval: 100, timeout: 2000 },
        delivery: { attempts: 2, backoff: 100, concurrency: 4 },
        email: { delay: 0 },
      },
    },
  });
  const logger = createLogger({ level: "warn", secrets: [], write: () => undefined });
  service = createNotifyService({
    ...bus,
    config: loaded.config,
    secrets: loaded.secrets,
    logger,
    metrics: createMetrics(),
  });
  await service.start();
}

/** `buildcast dead-letters …` with the operator's config file; what it printed, and its error. */
async function cli(
  file: string,
  ...args: string[]
): Promise<{ out: string; err: string; error: string | null }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = new Command().exitOverride();
  registerDeadLetters(program, {
    out: { log: (line) => out.push(line) },
    err: { log: (line) => err.push(line) },
    env: { REDIS_URL: redis.url, BUILDCAST_CONFIG: file },
  });
  let error: string | null = null;
  try {
    await program.parseAsync(["node", "buildcast", ...args]);
  } catch (caught) {
    error = (caught as Error).message;
  }
  return { out: out.join("\n"), err: err.join("\n"), error };
}

const postsTo = (channel: string) =>
  slack
    .accepted("chat.postMessage")
    .filter((call) => call.args.channel === channel && call.args.thread_ts === undefined);
const callsTo = (channel: string) => slack.calls.filter((call) => call.args.channel === channel);

before(async () => {
  nats = await startNats();
  redis = await startRedis();
  slack = await startSlackServer();
  smtp = await startSmtpSink();
  bus = await connectBus(nats.url, createLogger({ level: "warn", secrets: [], write: () => undefined }));
  const loaded = loadConfig({ env: { NATS_URL: nats.url }, overrides: { dev: { startServers: false } } });
  await ensureStreams(bus.jsm, loaded.config.nats.stream);
});

after(async () => {
  await service?.stop();
  await bus.close();
  await slack.close();
  await smtp.close();
  await nats.dispose();
  await redis.dispose();
});

describe("dead-letters retry after the routes changed", () => {
  it("goes to the route's current channel; a letter whose route is gone is refused unless --old-target", async () => {
    // a wrong channel id in route builds, and a route that will be removed
    const first = routesFile("first.yaml", [
      ["builds", "C0BUILDS1"],
      ["legacy", "C0LEGACY1"],
    ]);
    slack.failChannel("C0BUILDS1", "channel_not_found");
    slack.failChannel("C0LEGACY1", "channel_not_found");
    await startGateway(first);
    await publishEvents(
      bus.js,
      minuteRun("acme/builds", 1, "success"),
      minuteRun("acme/legacy", 1, "success"),
    );
    await publishEvents(
      bus.js,
      minuteRun("acme/builds", 2, "failure"),
      minuteRun("acme/legacy", 2, "failure"),
    );
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, "buildcast");
    try {
      const dead = await eventually(async () => {
        const rows = await letters.list();
        return rows.length === 2 ? rows : undefined;
      }, "two dead letters");
      const of = (channel: string): DeadLetter => {
        const row = dead.find((letter) => letter.target === channel);
        assert.ok(row, channel);
        return row;
      };
      const builds = of("C0BUILDS1");
      const legacy = of("C0LEGACY1");

      // builds' letter as the release before this one queued it: without its route's name,
      // which the gateway then finds in the run's record
      const queue = new Queue(QUEUE_NAMES.slack, { connection, prefix: "buildcast" });
      const job = await queue.getJob(builds.id.slice("slack:".length));
      const { route: _route, ...unnamed } = job?.data as Record<string, unknown>;
      await job?.updateData(unnamed);
      await queue.close();

      // the operator corrects builds' channel, removes legacy, restarts the gateway
      const fixed = routesFile("fixed.yaml", [["builds", "C0BUILDS2"]]);
      await startGateway(fixed);
      const retried = await cli(fixed, "dead-letters", "retry", "--all");
      assert.match(retried.out, new RegExp(builds.id));
      assert.doesNotMatch(retried.out, new RegExp(legacy.id));
      assert.match(retried.error ?? "", /1 dead letter not retried/);
      assert.match(
        retried.err,
        new RegExp(`${legacy.id}: its route legacy is not in .*fixed\\.yaml.*--old-target`),
      );

      const post = await eventually(() => postsTo("C0BUILDS2")[0], "the post in the corrected channel");
      assert.match(String(post.args.text), /^Failed: acme\/builds/);
      await eventually(
        async () => (await letters.list()).every((row) => row.id !== builds.id),
        "builds' letter gone from the dead letters",
      );
      // the run goes on: its message in the corrected channel follows it, the old channel hears nothing
      await publishEvents(
        bus.js,
        minuteRun("acme/builds", 2, "failure", { job: { id: "j9", name: "test (node 20)" } }),
      );
      const update = await eventually(
        () => slack.accepted("chat.update").find((call) => call.args.channel === "C0BUILDS2"),
        "the run's message updated in the corrected channel",
      );
      assert.equal(update.args.ts, post.ts);
      await sleep(500);
      assert.equal(callsTo("C0BUILDS1").length, 1, "nothing more to the old channel");
      assert.equal(callsTo("C0LEGACY1").length, 1, "nothing to the removed route's channel");
      assert.deepEqual(
        (await letters.list()).map((row) => row.id),
        [legacy.id],
      );

      // the operator does want it in the old channel (now that it exists)
      slack.failChannel("C0LEGACY1", null);
      const forced = await cli(fixed, "dead-letters", "retry", legacy.id, "--old-target");
      assert.equal(forced.error, null);
      assert.match(forced.out, new RegExp(legacy.id));
      const old = await eventually(() => postsTo("C0LEGACY1")[0], "the post in the old channel");
      assert.match(String(old.args.text), /^Failed: acme\/legacy/);
      await eventually(async () => (await letters.list()).length === 0, "no dead letters");
      assert.equal(postsTo("C0BUILDS2").length, 1, "one message per run in the new channel");
    } finally {
      await letters.close();
      await connection.quit();
    }
  });

  it("a route the CLI's file still has but the gateway's does not: the gateway sends nothing and says why", async () => {
    const first = join(tmp, "first.yaml");
    const fixed = join(tmp, "fixed.yaml");
    slack.failChannel("C0LEGACY1", "channel_not_found");
    await startGateway(first);
    await publishEvents(bus.js, minuteRun("acme/legacy", 3, "failure"));
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, "buildcast");
    try {
      const letter = await eventually(
        async () => (await letters.list()).find((row) => row.target === "C0LEGACY1"),
        "a dead letter",
      );
      const calls = callsTo("C0LEGACY1").length;
      await startGateway(fixed);
      // the operator's shell still points at the old file
      const retried = await cli(first, "dead-letters", "retry", letter.id);
      assert.equal(retried.error, null);
      const again = await eventually(async () => {
        const row = (await letters.list()).find((dead) => dead.id === letter.id);
        return row && /not sent/.test(row.reason) ? row : undefined;
      }, "the letter dead again");
      assert.match(
        again.reason,
        /not sent: route legacy is not in the gateway's config or sends no Slack \(dead-letters retry --old-target sends it to C0LEGACY1\)/,
      );
      assert.equal(callsTo("C0LEGACY1").length, calls, "nothing sent to the removed route's channel");
    } finally {
      await letters.close();
      await connection.quit();
    }
  });

  it("an e-mail letter goes to its route's current list, never again to those who took the mail", async () => {
    const mailRoute = (to: readonly string[]) => {
      const path = join(tmp, `mail-${to.length}-${to[0] ?? ""}.yaml`);
      writeFileSync(
        path,
        [
          "routes:",
          "  - name: mail",
          '    match: { repositories: ["acme/mail"] }',
          `    email: { to: [${to.join(", ")}] }`,
        ].join("\n"),
      );
      return path;
    };
    // a typo in one address: the server refuses it for good, the other takes the mail
    smtp.rejectRecipient("bob@exmaple.com");
    await startGateway(mailRoute(["team@example.com", "bob@exmaple.com"]));
    await publishEvents(bus.js, minuteRun("acme/mail", 1, "success"), minuteRun("acme/mail", 2, "failure"));
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, "buildcast");
    const mailsTo = (address: string) => smtp.mails.filter((mail) => mail.envelopeTo.includes(address));
    try {
      const letter = await eventually(
        async () => (await letters.list()).find((row) => row.channel === "email"),
        "the e-mail dead letter",
      );
      assert.equal(letter.target, "bob@exmaple.com");
      assert.equal(mailsTo("team@example.com").length, 1);

      // the operator corrects the address and adds a lead, restarts the gateway, retries
      const fixed = mailRoute(["team@example.com", "bob@example.com", "lead@example.com"]);
      await startGateway(fixed);
      const retried = await cli(fixed, "dead-letters", "retry", letter.id);
      assert.equal(retried.error, null);
      await eventually(() => mailsTo("bob@example.com")[0], "the mail to the corrected address");
      await eventually(
        async () => (await letters.list()).every((row) => row.id !== letter.id),
        "the letter gone from the dead letters",
      );
      await sleep(500);
      assert.equal(mailsTo("team@example.com").length, 1, "the one who took it does not get it again");
      assert.equal(mailsTo("lead@example.com").length, 1);
      assert.equal(mailsTo("bob@exmaple.com").length, 0);
      assert.match(mailsTo("bob@example.com")[0]?.parsed.subject ?? "", /\[acme\/mail\] CI failed/);
    } finally {
      await letters.close();
      await connection.quit();
    }
  });
});
