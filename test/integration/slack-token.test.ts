import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { DeadLetters } from "../../src/notify/dead-letters.ts";
import { minuteRun, publishEvents } from "../helpers/events.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";

// A bot token Slack refuses is a property of the token, not of a notice: deliveries wait for
// it instead of each becoming a dead letter, and go out once Slack takes it again
const TOKEN = "xoxb-token-under-test-4711";
const CHANNELS = { start: "C0TOKENSTART", later: "C0TOKENLATER" } as const;
type Test = keyof typeof CHANNELS;

let slack: SlackServer;
let gateway: TestGateway;
let letters: DeadLetters;
let connection: Redis;

const readyz = async (): Promise<{ status: number; checks: Record<string, string> }> => {
  const response = await fetch(`${gateway.url}/readyz`);
  // the checks are the body's fields, next to "status"
  return { status: response.status, checks: (await response.json()) as Record<string, string> };
};
const refusedGauge = async (): Promise<string | undefined> => {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return /^buildcast_slack_token_refused (\d+)$/m.exec(text)?.[1];
};
const posts = (test: Test) =>
  slack.accepted("chat.postMessage").filter((call) => call.args.channel === CHANNELS[test]);
const slackCalls = (test: Test) => slack.calls.filter((call) => call.args.channel === CHANNELS[test]);
const refusalLines = () => gateway.logs.filter((line) => line.includes("Slack refuses the bot token ("));
const publish = (test: Test, n: number, status: "failure" | "success") =>
  publishEvents(gateway.gateway.bus.js, minuteRun(`acme/token-${test}`, n, status));

before(async () => {
  slack = await startSlackServer();
  // refused from the start: the gateway starts with a revoked token
  slack.refuseToken("token_revoked");
  gateway = await startTestGateway({
    env: { SLACK_BOT_TOKEN: TOKEN, SLACK_API_URL: slack.apiUrl },
    overrides: {
      routes: (Object.keys(CHANNELS) as Test[]).map((test) => ({
        name: test,
        match: { repositories: [`acme/token-${test}`], branches: ["main"] },
        on: ["failed", "still_failing", "fixed"],
        slack: { channel: CHANNELS[test], threadFailures: false },
      })),
      notify: {
        slack: { apiUrl: slack.apiUrl, minInterval: 100, timeout: 2000, tokenRecheck: 500 },
        // one attempt: a delivery that spent one on the refusal would be a dead letter at once
        delivery: { attempts: 1, backoff: 100, concurrency: 4 },
      },
    },
  });
  connection = new Redis(gateway.redis.url, { maxRetriesPerRequest: null });
  letters = new DeadLetters(connection, "buildcast");
});

after(async () => {
  await letters.close();
  await connection.quit();
  await gateway.close();
  await slack.close();
});

describe("a Slack bot token that Slack refuses", () => {
  it("refused at start: said once, shown in /readyz and the gauge, notices wait and go out once each when it is taken", async () => {
    const ready = await eventually(async () => {
      const answer = await readyz();
      return /refused/.test(answer.checks.slack ?? "") && answer;
    }, "the slack check to say the token is refused");
    assert.equal(ready.status, 200, "a refused Slack token does not make the replica unready");
    assert.match(ready.checks.slack ?? "", /token refused \(token_revoked\); notices wait/);
    assert.equal(await refusedGauge(), "1");

    await publish("start", 1, "failure");
    await publish("start", 2, "failure");
    await publish("start", 2, "success");
    await publish("start", 3, "failure");
    // several rechecks pass while Slack still refuses the token
    await sleep(2500);
    assert.deepEqual(await letters.list(), [], "no dead letter");
    assert.equal(slackCalls("start").length, 0, "no notice was even tried against Slack");
    assert.ok(slack.calls.filter((call) => call.method === "auth.test").length >= 3, "auth.test asked again");
    assert.equal(refusalLines().length, 1, "one error line for the refusal, not one per notice");
    const line = refusalLines()[0] ?? "";
    assert.match(line, /token_revoked/);
    assert.match(line, /reinstall the app/);
    assert.ok(!gateway.logs.join("").includes(TOKEN), "the token never reaches the log");

    slack.refuseToken(null);
    // run 1 failed; run 2 failed and was fixed; run 3 failed: one message per run
    await eventually(() => posts("start").length >= 3, "the waiting notices to go out");
    await eventually(async () => (await readyz()).checks.slack === "token accepted", "the slack check");
    assert.equal(await refusedGauge(), "0");
    await sleep(1000);
    assert.equal(posts("start").length, 3, "each run's message posted once");
    assert.deepEqual(await letters.list(), []);
    assert.ok(gateway.logs.some((text) => text.includes("Slack takes the bot token again")));
  });

  it("refused while running: the delivery that meets it waits, without an attempt, and later ones with it", async () => {
    await publish("later", 1, "failure");
    await eventually(() => posts("later").length === 1, "the first message");
    const refusalsBefore = refusalLines().length;

    slack.refuseToken("account_inactive");
    await publish("later", 2, "failure");
    await publish("later", 3, "success");
    await eventually(async () => /account_inactive/.test((await readyz()).checks.slack ?? ""), "the refusal");
    assert.equal(await refusedGauge(), "1");
    await sleep(2000);
    assert.deepEqual(await letters.list(), [], "no dead letter");
    assert.equal(refusalLines().length, refusalsBefore + 1, "one error line");
    // each delivery in flight met the refusal once; nothing was tried again while it lasted
    const refused = slackCalls("later").filter((call) => call.answered === "account_inactive").length;

    // the workspace reactivated the bot: the same token is taken again
    slack.refuseToken(null);
    // run 2 still failing, run 3 fixed it
    await eventually(() => posts("later").length >= 3, "the waiting notices to go out");
    await sleep(1000);
    assert.equal(posts("later").length, 3, "one message per run");
    assert.deepEqual(await letters.list(), []);
    assert.ok(refused >= 1 && refused <= 2, `one refused call per delivery running then (${refused})`);
    assert.equal(await refusedGauge(), "0");
  });
});

describe("shutting down while Slack refuses the token", () => {
  it("a gateway whose deliveries wait for the token stops at once, leaving them queued", async () => {
    // the refusal met by a delivery (the worker ran, and is paused under it)
    slack.refuseToken("invalid_auth");
    await publish("later", 4, "failure");
    await eventually(async () => /invalid_auth/.test((await readyz()).checks.slack ?? ""), "the refusal");
    const started = Date.now();
    await gateway.gateway.close();
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 3000, `closed in ${tookMs} ms`);
    assert.deepEqual(await letters.list(), [], "no dead letter");
    const queue = new Queue("notify-slack", { connection, prefix: "buildcast" });
    try {
      assert.equal(
        await queue.getJobCountByTypes("waiting", "delayed", "prioritized"),
        1,
        "the notice waits",
      );
    } finally {
      await queue.close();
    }
  });

  it("a gateway that never ran its Slack worker (refused at start) stops at once", async () => {
    const refusing = await startSlackServer();
    refusing.refuseToken("invalid_auth");
    const other = await startTestGateway({
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_API_URL: refusing.apiUrl },
      overrides: {
        routes: [{ name: "r", slack: { channel: "C0TOKENSTOP" } }],
        notify: { slack: { apiUrl: refusing.apiUrl, tokenRecheck: 500 } },
      },
    });
    try {
      await eventually(
        () => other.logs.some((line) => line.includes("Slack refuses the bot token (invalid_auth)")),
        "the refusal",
      );
      const started = Date.now();
      await other.gateway.close();
      const tookMs = Date.now() - started;
      assert.ok(tookMs < 3000, `closed in ${tookMs} ms`);
    } finally {
      await other.close();
      await refusing.close();
    }
  });
});

describe("a Slack that cannot answer auth.test at start", () => {
  it("is no refusal: the token counts as not checked and notices go out", async () => {
    const busy = await startSlackServer();
    busy.failNext({ status: 503 }, 1, "auth.test");
    const other = await startTestGateway({
      env: { SLACK_BOT_TOKEN: TOKEN, SLACK_API_URL: busy.apiUrl },
      overrides: {
        routes: [
          {
            name: "busy",
            match: { repositories: ["acme/token-busy"], branches: ["main"] },
            on: ["failed"],
            slack: { channel: "C0TOKENBUSY", threadFailures: false },
          },
        ],
        notify: { slack: { apiUrl: busy.apiUrl, minInterval: 100, timeout: 2000, tokenRecheck: 500 } },
      },
    });
    try {
      await eventually(
        () => other.logs.some((line) => line.includes("cannot check the Slack bot token (auth.test)")),
        "the warning",
      );
      assert.match(
        other.logs.find((line) => line.includes("cannot check the Slack bot token")) ?? "",
        /HTTP 503/,
      );
      // asked again on the recheck schedule, until Slack answers about the token
      await eventually(async () => {
        const body = (await (await fetch(`${other.url}/readyz`)).json()) as Record<string, string>;
        return body.slack === "token accepted";
      }, "the token accepted on a recheck");
      const metrics = await (await fetch(`${other.url}/metrics`)).text();
      assert.match(metrics, /^buildcast_slack_token_refused 0$/m);
      await publishEvents(other.gateway.bus.js, minuteRun("acme/token-busy", 1, "failure"));
      await eventually(() => busy.accepted("chat.postMessage").length === 1, "the notice");
      assert.ok(!other.logs.some((line) => line.includes("Slack refuses the bot token")));
    } finally {
      await other.close();
      await busy.close();
    }
  });
});
