import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { BuildEvent, Status } from "../../src/events/schema.ts";
import { DeadLetters } from "../../src/notify/dead-letters.ts";
import { minuteRun, publishEvents, type EventSpec } from "../helpers/events.ts";
import {
  eventually,
  slackChannelOf,
  sleep,
  startSlackRoutes,
  type NotifyHarness,
} from "../helpers/notify-harness.ts";
import type { SlackCall, SlackServer } from "../helpers/slack-server.ts";

// what real Slack does to a delivery: messages deleted under it, errors after it posted
const TESTS = [
  "gone",
  "gonereply",
  "gateway",
  "slow",
  "warned",
  "fatal",
  "readonly",
  "matrix",
  "nothread",
  "uninvited",
  "archived",
  "busy",
  "kicked",
] as const;
type Test = (typeof TESTS)[number];
const channelOf = (test: Test) => slackChannelOf(test);

let slack: SlackServer;
let harness: NotifyHarness;
let letters: DeadLetters;
let connection: Redis;

before(async () => {
  ({ slack, harness } = await startSlackRoutes(TESTS, {
    target: { threadFailures: true },
    // a post given up on after 1 s is waited for until 3 s after its claim
    slack: { minInterval: 200, timeout: 1000 },
    delivery: { attempts: 4, backoff: 200, concurrency: 4 },
  }));
  connection = new Redis(harness.redis.url, { maxRetriesPerRequest: null });
  letters = new DeadLetters(connection, harness.loaded.config.redis.prefix);
});

after(async () => {
  await letters.close();
  await connection.quit();
  await harness.close();
  await slack.close();
});

const accepted = (channel: string, method?: string): SlackCall[] =>
  slack.calls.filter(
    (call) =>
      call.args.channel === channel &&
      call.answered === 200 &&
      (method === undefined || call.method === method),
  );

const runEvent = (test: Test, n: number, status: Status, extra: EventSpec = {}) =>
  minuteRun(`acme/${test}`, n, status, extra);
const publish = (...events: BuildEvent[]) => publishEvents(harness.bus.js, ...events);

describe("Slack deliveries when Slack misbehaves", () => {
  it("a run whose message someone deleted gets a new message instead of a dead letter", async () => {
    const channel = channelOf("gone");
    await publish(runEvent("gone", 1, "failure"));
    const post = await eventually(() => accepted(channel, "chat.postMessage")[0], "the first post");
    const ts = post.ts ?? "";
    slack.deleteMessage(channel, ts);
    // the run goes on: a failed job of it changes the message
    await publish(runEvent("gone", 1, "failure", { job: { id: "j1", name: "unit tests" } }));
    const repost = await eventually(
      () => accepted(channel, "chat.postMessage")[1],
      "a new message for the run",
    ).catch((error: Error) => {
      const calls = slack.calls.filter((call) => call.args.channel === channel);
      throw new Error(`${error.message}; calls: ${JSON.stringify(calls.map((c) => [c.method, c.answered]))}`);
    });
    assert.match(JSON.stringify(repost.args.blocks), /unit tests/);
    const reply = await eventually(
      () => accepted(channel, "chat.postMessage").find((call) => call.args.thread_ts !== undefined),
      "the failure reply",
    );
    assert.equal(reply.args.thread_ts, repost.ts, "in the new message's thread");
    assert.deepEqual(
      (await letters.list()).filter((row) => row.target === channel),
      [],
      "nothing dead-lettered",
    );
    // and the new message is the one later events update
    await publish(runEvent("gone", 1, "success", { attempt: 2, at: "2024-05-01T11:00:00Z" }));
    const update = await eventually(
      () => accepted(channel, "chat.update")[0],
      "the update of the new message",
    );
    assert.match(String(update.args.text), /^Fixed: /);
    assert.notEqual(update.args.ts, ts);
  });

  it("a deleted message's new one gets its failure reply at once, not after the old reply's wait", async () => {
    const channel = channelOf("gonereply");
    await publish(
      runEvent("gonereply", 1, "failure", { job: { id: "g1", name: "unit tests" } }),
      runEvent("gonereply", 1, "failure"),
    );
    const first = await eventually(
      () => accepted(channel, "chat.postMessage").find((call) => call.args.thread_ts !== undefined),
      "the first message's failure reply",
    );
    slack.deleteMessage(channel, String(first.args.thread_ts));
    await publish(runEvent("gonereply", 1, "failure", { job: { id: "g2", name: "lint" } }));
    const repost = await eventually(
      () => accepted(channel, "chat.postMessage").filter((call) => call.args.thread_ts === undefined)[1],
      "a new message for the run",
    );
    const reply = await eventually(
      () => accepted(channel, "chat.postMessage").find((call) => call.args.thread_ts === repost.ts),
      "the failure reply under the new message",
    );
    assert.match(JSON.stringify(reply.args.blocks), /lint/);
    // the old message's reply was posted and answered: nothing of it may still be on its way
    const waited = harness.logs.filter(
      (line) => line.includes(`"slackChannel":"${channel}"`) && line.includes("may still reach Slack"),
    );
    assert.deepEqual(waited, [], "the new message's reply waited for the deleted message's");
  });

  it("a 5xx answer to a post Slack carried out does not post the message twice", async () => {
    const channel = channelOf("gateway");
    slack.failNext({ status: 503, carriedOut: true }, 1, "chat.postMessage");
    await publish(runEvent("gateway", 1, "failure"));
    await eventually(
      () => slack.calls.some((call) => call.args.channel === channel && call.answered === 200),
      "a call Slack answered after the 503",
      15_000,
    );
    await sleep(1500);
    const calls = slack.calls.filter((call) => call.args.channel === channel);
    assert.deepEqual(
      calls.map((call) => [call.method, call.answered]),
      [
        ["chat.postMessage", 503],
        ["conversations.history", 200],
        // the adopted message is brought up to date
        ["chat.update", 200],
      ],
      "the retry finds the post Slack carried out though it answered 503",
    );
    assert.ok(harness.logs.some((line) => line.includes("adopted the message")));
  });

  it("a post Slack carries out after the client gave up on it is waited for, not posted again", async () => {
    const channel = channelOf("slow");
    // posted 2 s after the call: the client gives up at 1 s, its retry (backoff 0.2 s) looks
    // before the post is there, waits until 3 s after the claim and finds it then
    slack.slowNext("chat.postMessage", 2000);
    await publish(runEvent("slow", 1, "failure"));
    await eventually(
      () => accepted(channel, "chat.update")[0],
      "the adopted message brought up to date",
      15_000,
    );
    await sleep(1000);
    const calls = slack.calls.filter((call) => call.args.channel === channel);
    const posts = accepted(channel, "chat.postMessage");
    assert.equal(
      posts.length,
      1,
      `one message; calls: ${JSON.stringify(calls.map((call) => [call.method, call.answered]))}`,
    );
    assert.equal(calls.at(-1)?.args.ts, posts[0]?.ts, "the update is of the post Slack carried out late");
    assert.ok(harness.logs.some((line) => line.includes("may still reach Slack")));
    assert.ok(harness.logs.some((line) => line.includes("adopted the message")));
    assert.deepEqual(
      (await letters.list()).filter((row) => row.target === channel),
      [],
      "nothing dead-lettered",
    );
  });

  it("Slack's warnings on a call it accepted reach the JSON log, under the delivery that made it", async () => {
    const channel = channelOf("warned");
    slack.warnNext("chat.postMessage", "superfluous_charset");
    await publish(runEvent("warned", 1, "failure"));
    await eventually(() => accepted(channel, "chat.postMessage")[0], "the post");
    const line = await eventually(
      () => harness.logs.find((entry) => entry.includes("superfluous_charset")),
      "a log line with the warning",
      5000,
    );
    const parsed = JSON.parse(line) as Record<string, unknown>;
    assert.equal(parsed.level, "warn");
    assert.equal(parsed.slackChannel, channel);
    assert.ok("traceId" in parsed, line);
    assert.equal(parsed.msg, "Slack Web API: superfluous_charset");
  });

  it("a post Slack answered internal_error or fatal_error after posting is not posted again", async () => {
    // Slack: "It's possible some aspect of the operation succeeded before the error was raised"
    const channel = channelOf("fatal");
    slack.failNext({ error: "fatal_error", carriedOut: true }, 1, "chat.postMessage");
    await publish(runEvent("fatal", 1, "failure"));
    await eventually(
      () => slack.calls.some((call) => call.args.channel === channel && call.answered === 200),
      "a call Slack answered after the fatal_error",
    );
    await sleep(1500);
    const posts = slack.calls.filter(
      (call) => call.args.channel === channel && call.method === "chat.postMessage",
    );
    assert.equal(posts.length, 1, "the retry adopts the post instead of posting again");
    assert.ok(harness.logs.some((line) => line.includes("adopted the message")));
  });

  it("a read-only channel is a dead letter at once, not ten tries", async () => {
    const channel = channelOf("readonly");
    slack.failChannel(channel, "restricted_action_read_only_channel");
    await publish(runEvent("readonly", 1, "failure"));
    const letter = await eventually(
      async () => (await letters.list()).find((row) => row.target === channel),
      "the dead letter",
    );
    assert.match(letter.reason, /restricted_action_read_only_channel/);
    assert.equal(letter.attempts, 1);
    assert.equal(slack.calls.filter((call) => call.args.channel === channel).length, 1);
    // what the runbook's alerts read
    const counted = await eventually(
      async () =>
        (await harness.metrics.deliveries.get()).values.find(
          (value) => value.labels.channel === "slack" && value.labels.outcome === "dead_letter",
        ),
      "buildcast_deliveries_total{outcome=dead_letter}",
    );
    assert.ok(counted.value >= 1);
    const gauge = (await harness.metrics.deadLetters.get()).values.find(
      (value) => value.labels.channel === "slack",
    );
    assert.ok((gauge?.value ?? 0) >= 1, "buildcast_dead_letters{channel=slack}");
  });

  it("a run with a few hundred failed jobs gets its thread reply (Slack caps a message's block text)", async () => {
    const channel = channelOf("matrix");
    const jobs = Array.from({ length: 300 }, (_, i) =>
      runEvent("matrix", 1, "failure", {
        job: {
          id: String(30_000_000_000 + i),
          name: `test (ubuntu-latest, node ${18 + (i % 3)}, postgres 15, shard ${i}/300)`,
          url: `https://github.com/acme/matrix/actions/runs/101/job/${30_000_000_000 + i}`,
        },
      }),
    );
    await publish(...jobs, runEvent("matrix", 1, "failure"));
    const reply = await eventually(
      () => accepted(channel, "chat.postMessage").find((call) => call.args.thread_ts !== undefined),
      "the failure thread reply",
    ).catch(async (error: Error) => {
      const refused = slack.calls.filter((call) => call.args.channel === channel && call.answered !== 200);
      const dead = (await letters.list()).filter((row) => row.target === channel);
      throw new Error(
        `${error.message}; refused: ${refused.map((call) => String(call.answered)).join(", ")}; dead letters: ${dead.map((row) => row.reason).join(", ")}`,
      );
    });
    assert.match(JSON.stringify(reply.args.blocks), /…and \d+ more/);
    assert.deepEqual(
      (await letters.list()).filter((row) => row.target === channel),
      [],
    );
  });

  it("a thread reply Slack refuses for good is one dead letter, not one per later event", async () => {
    const channel = channelOf("nothread");
    slack.failThreadReplies(channel, "restricted_action_non_threadable_channel");
    const deadFor = async () => (await letters.list()).filter((row) => row.target === channel);
    await publish(runEvent("nothread", 1, "failure"));
    await eventually(() => accepted(channel)[0], "the post");
    for (const i of [1, 2, 3]) {
      await publish(runEvent("nothread", 1, "failure", { job: { id: `n${i}`, name: `job ${i}` } }));
      await eventually(
        () => accepted(channel).filter((call) => JSON.stringify(call.args.blocks).includes(`job ${i}`))[0],
        `the message showing job ${i}`,
      );
    }
    await sleep(800);
    const letter = await eventually(async () => (await deadFor())[0], "the dead letter");
    assert.equal((await deadFor()).length, 1, "one dead letter for the refused reply");
    assert.match(letter.reason, /thread.*restricted_action_non_threadable_channel/);
    const replies = () =>
      slack.calls.filter((call) => call.args.channel === channel && call.args.thread_ts !== undefined);
    assert.equal(replies().length, 1, "the reply is not tried again by every event");

    // someone deletes the message: the run gets a new one, in the same channel that refuses threads
    const first = accepted(channel).find((call) => call.method === "chat.postMessage");
    slack.deleteMessage(channel, first?.ts ?? "");
    await publish(runEvent("nothread", 1, "failure", { job: { id: "n4", name: "job 4" } }));
    const repost = await eventually(
      () =>
        accepted(channel).filter(
          (call) => call.method === "chat.postMessage" && call.args.thread_ts === undefined,
        )[1],
      "the new message",
    );
    await sleep(800);
    assert.equal((await deadFor()).length, 1, "the new message does not add a dead letter of its own");
    assert.equal(replies().length, 1, "nor try the refused reply again");

    // the channel allows threads again; the operator retries the dead letter
    slack.failThreadReplies(channel, null);
    assert.equal(await letters.retry(letter.id), true);
    const reply = await eventually(
      () => replies().find((call) => call.answered === 200),
      "the thread reply on retry",
    );
    assert.match(JSON.stringify(reply.args.blocks), /job 4/);
    assert.equal(reply.args.thread_ts, repost.ts, "in the new message's thread");
  });
  it("dead letters retried together (dead-letters retry --all) post each run's message once", async () => {
    const channel = channelOf("uninvited");
    // the bot is not in the channel yet: each run's failure and its failed jobs are dead letters
    slack.failChannel(channel, "not_in_channel");
    const deadFor = async () => (await letters.list()).filter((row) => row.target === channel);
    const runs = [1, 2, 3, 4, 5, 6];
    for (const run of runs) {
      const events = [
        runEvent("uninvited", run, "failure"),
        ...[1, 2, 3, 4, 5].map((i) =>
          runEvent("uninvited", run, "failure", { job: { id: `u${run}-${i}`, name: `job ${i}` } }),
        ),
      ];
      for (const event of events) {
        const before = (await deadFor()).length;
        await publish(event);
        await eventually(async () => (await deadFor()).length > before || undefined, "a dead letter");
      }
    }
    // the bot is invited; the operator retries every dead letter, several of each run at once
    slack.failChannel(channel, null);
    await letters.retryAll();
    await eventually(async () => (await deadFor()).length === 0 || undefined, "no dead letters left");
    await sleep(1500);
    const posts = accepted(channel, "chat.postMessage");
    const messages = posts.filter((call) => call.args.thread_ts === undefined);
    assert.equal(messages.length, runs.length, "one message per run");
    const replies = posts.filter((call) => call.args.thread_ts !== undefined);
    assert.deepEqual(
      replies.map((call) => call.args.thread_ts).sort(),
      messages.map((call) => call.ts).sort(),
      "one failure reply under each",
    );
  });
  it("a run's message in a channel archived since is a dead letter at once, not a try per attempt", async () => {
    const channel = channelOf("archived");
    await publish(runEvent("archived", 1, "failure"));
    await eventually(() => accepted(channel, "chat.postMessage")[0], "the post");
    // the channel is archived: Slack refuses every edit of its messages (and every new post)
    slack.failChannel(channel, "is_inactive");
    await publish(runEvent("archived", 1, "failure", { job: { id: "a1", name: "unit tests" } }));
    const letter = await eventually(
      async () => (await letters.list()).find((row) => row.target === channel),
      "the dead letter",
    );
    assert.match(letter.reason, /chat\.update: is_inactive/);
    assert.equal(letter.attempts, 1);
    const updates = slack.calls.filter(
      (call) => call.args.channel === channel && call.method === "chat.update",
    );
    assert.equal(updates.length, 1, "Slack is asked once");
  });
  it("a dead letter retried after a busy day finds the post Slack carried out, not posting it twice", async () => {
    const channel = channelOf("busy");
    // Slack posts the message but answers 503, and cannot say what it holds until the
    // delivery has run out of attempts
    slack.failNext({ status: 503, carriedOut: true }, 1, "chat.postMessage");
    slack.failNext({ status: 503 }, 3, "conversations.history");
    await publish(runEvent("busy", 1, "failure"));
    const letter = await eventually(
      async () => (await letters.list()).find((row) => row.target === channel),
      "the dead letter",
    );
    // the channel lives on: a thousand messages after the post before the operator retries
    slack.othersPost(channel, 1000, Date.now() + 10 * 60_000);
    assert.equal(await letters.retry(letter.id), true);
    const sent = await eventually(
      () => accepted(channel).find((call) => call.method.startsWith("chat.")),
      "the retried delivery's post or update",
    );
    const posts = slack.calls.filter(
      (call) => call.args.channel === channel && call.method === "chat.postMessage",
    );
    assert.equal(posts.length, 1, "the message is not posted again");
    assert.equal(sent.method, "chat.update", "the message Slack carried out is adopted and updated");
  });
  it("dead letters of a run whose message was deleted, retried together, post one new message", async () => {
    const channel = channelOf("kicked");
    await publish(runEvent("kicked", 1, "failure"));
    const first = await eventually(() => accepted(channel, "chat.postMessage")[0], "the post");
    // someone deletes the message and removes the bot: the run's later events are dead letters
    slack.deleteMessage(channel, first.ts ?? "");
    slack.failChannel(channel, "not_in_channel");
    const deadFor = async () => (await letters.list()).filter((row) => row.target === channel);
    for (const i of [1, 2, 3, 4, 5, 6]) {
      await publish(runEvent("kicked", 1, "failure", { job: { id: `k${i}`, name: `job ${i}` } }));
      await eventually(async () => (await deadFor()).length >= i || undefined, `dead letter ${i}`);
    }
    // the bot is invited again; the operator retries them all
    slack.failChannel(channel, null);
    await letters.retryAll();
    await eventually(async () => (await deadFor()).length === 0 || undefined, "no dead letters left");
    await sleep(1500);
    const messages = accepted(channel, "chat.postMessage").filter(
      (call) => call.args.thread_ts === undefined,
    );
    assert.equal(messages.length, 2, "the deleted message and one in its place");
    const replies = accepted(channel, "chat.postMessage").filter((call) => call.args.thread_ts !== undefined);
    assert.deepEqual(
      replies.map((call) => call.args.thread_ts),
      [messages[1]?.ts],
      "one failure reply, under the new message",
    );
  });
});
