import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Command } from "commander";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { registerDeadLetters } from "../../src/cli/commands/dead-letters.ts";
import type { BuildEvent, Status } from "../../src/events/schema.ts";
import { DeadLetters } from "../../src/notify/dead-letters.ts";
import { QUEUE_NAMES } from "../../src/notify/queue.ts";
import { minuteRun, publishEvents, type EventSpec } from "../helpers/events.ts";
import {
  eventually,
  slackChannelOf,
  sleep,
  startSlackRoutes,
  type NotifyHarness,
} from "../helpers/notify-harness.ts";
import type { SlackCall, SlackServer } from "../helpers/slack-server.ts";

const TESTS = [
  "api",
  "flap",
  "commit",
  "reply",
  "retry",
  "order",
  "burst",
  "limit",
  "shared",
  "flaky",
  "bad",
  "outage",
  "late",
] as const;
const channelOf = (test: (typeof TESTS)[number]) => slackChannelOf(test);

let slack: SlackServer;
let harness: NotifyHarness;

before(async () => {
  ({ slack, harness } = await startSlackRoutes(TESTS, {
    people: [{ email: "ada@example.com", github: "ada", slack: "U012ABC" }],
    target: { mentionAuthor: true },
    // a post given up on after 2 s is waited for until 6 s after its claim
    slack: { minInterval: 300, timeout: 2000 },
    delivery: { attempts: 4, backoff: 200, concurrency: 8 },
  }));
});

after(async () => {
  await harness.close();
  await slack.close();
});

const callsTo = (channel: string, method?: string): SlackCall[] =>
  slack.calls.filter(
    (call) => call.args.channel === channel && (method === undefined || call.method === method),
  );
const accepted = (channel: string) => callsTo(channel).filter((call) => call.answered === 200);
const blocksText = (call: SlackCall | undefined) => JSON.stringify(call?.args.blocks ?? null);

const runEvent = (test: (typeof TESTS)[number], n: number, status: Status, extra: EventSpec = {}) =>
  minuteRun(`acme/${test}`, n, status, extra);
const publish = (...events: BuildEvent[]) => publishEvents(harness.bus.js, ...events);

describe("Slack notices", () => {
  it("posts once on failure with the run's facts, replies in a thread, then updates in place", async () => {
    const channel = channelOf("api");
    await publish(runEvent("api", 1, "success"), runEvent("api", 2, "running"));
    await publish(
      runEvent("api", 2, "failure", { job: { id: "j1", name: "test (node 20)" } }),
      runEvent("api", 2, "success", { job: { id: "j2", name: "lint" }, at: "2024-05-01T10:02:20Z" }),
      runEvent("api", 2, "failure", { durationMs: 95_000 }),
    );
    const [post, thread] = await eventually(() => {
      const calls = accepted(channel);
      return calls.length >= 2 ? calls : undefined;
    }, "post and thread reply");
    assert.equal(post?.method, "chat.postMessage");
    assert.equal(post?.token, "xoxb-test-token");
    assert.equal(post?.args.thread_ts, undefined);
    assert.match(String(post?.args.text), /^Failed: acme\/api CI #2 on main \(0123456\)$/);
    const blocks = blocksText(post);
    assert.match(blocks, /:red_circle: \*Failed\*/);
    assert.match(blocks, /<@U012ABC>/);
    assert.match(blocks, /1m 35s/);
    assert.equal(thread?.method, "chat.postMessage");
    assert.equal(thread?.args.thread_ts, "1700000000.000100");
    assert.match(blocksText(thread), /test \(node 20\)/);
    assert.doesNotMatch(blocksText(thread), /lint/);

    // a re-run of the same run: the message follows it, then shows the fix
    await publish(runEvent("api", 2, "running", { attempt: 2, at: "2024-05-01T11:00:00Z" }));
    const running = await eventually(() => accepted(channel)[2], "update to running");
    assert.equal(running.method, "chat.update");
    assert.equal(running.args.ts, post?.args.ts ?? "1700000000.000100");
    assert.match(blocksText(running), /\*Running\*.*\(attempt 2\)/);
    await publish(runEvent("api", 2, "success", { attempt: 2, at: "2024-05-01T11:05:00Z" }));
    const fixed = await eventually(() => accepted(channel)[3], "update to fixed");
    assert.equal(fixed.method, "chat.update");
    assert.match(String(fixed.args.text), /^Fixed: /);
    assert.match(blocksText(fixed), /:large_green_circle: \*Fixed\*/);
    await sleep(800);
    assert.equal(accepted(channel).length, 4, "no further calls");
    assert.equal(
      callsTo(channel, "chat.postMessage").filter((c) => c.args.thread_ts === undefined).length,
      1,
    );
  });

  it("a pipeline retried in place (GitLab Retry: same run, same attempt) turns its message to Fixed", async () => {
    const channel = channelOf("retry");
    const gitlab = { provider: "gitlab" } as const;
    const time = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, "0")}:00Z`;
    // the job's first try fails, so does the pipeline
    const firstTry = { id: "10", name: "test", stage: "test" };
    await publish(runEvent("retry", 1, "success", gitlab));
    await publish(
      runEvent("retry", 2, "failure", { ...gitlab, job: firstTry, startedAt: time(2), at: time(5) }),
      runEvent("retry", 2, "failure", { ...gitlab, at: time(6) }),
    );
    await eventually(() => accepted(channel).some((c) => /^Failed: /.test(String(c.args.text))), "Failed");
    // Retry: GitLab runs the job again under a new id, and the same pipeline finishes again
    const retry = { id: "11", name: "test", stage: "test" };
    await publish(
      runEvent("retry", 2, "running", { ...gitlab, job: retry, startedAt: time(20), at: time(20) }),
      runEvent("retry", 2, "running", { ...gitlab, at: time(20) }),
    );
    await publish(
      runEvent("retry", 2, "success", { ...gitlab, job: retry, startedAt: time(20), at: time(25) }),
      runEvent("retry", 2, "success", { ...gitlab, at: time(26) }),
    );
    await eventually(() => accepted(channel).some((c) => /^Fixed: /.test(String(c.args.text))), "Fixed");
    await sleep(800);
    const last = accepted(channel).at(-1);
    assert.equal(last?.method, "chat.update", "the run's message, updated in place");
    assert.match(String(last?.args.text), /^Fixed: acme\/retry CI #2 on main/);
    assert.match(blocksText(last), /:large_green_circle: \*Fixed\*/);
    assert.doesNotMatch(blocksText(last), /jobs\/10/, "the failed first try is not listed");
  });

  it("flapping success → failure → failure → success notifies failed, still_failing, fixed once each", async () => {
    const channel = channelOf("flap");
    const events = [
      runEvent("flap", 1, "success"),
      runEvent("flap", 2, "failure"),
      runEvent("flap", 3, "failure"),
      runEvent("flap", 4, "success"),
    ];
    for (const event of events) await publish(event);
    await eventually(() => accepted(channel).length >= 3, "three messages");
    // the same states again (a redelivered webhook past the dedup window) and late, reordered events
    for (const event of [...events].reverse()) {
      await harness.bus.js.publish(event.type, JSON.stringify(event), { msgID: `${event.id}-again` });
    }
    await publish(runEvent("flap", 2, "running"), runEvent("flap", 3, "queued"));
    await sleep(1500);
    // one notice per run, each its own message: deliveries of different runs run side by
    // side, so they may reach Slack in any order (real runs finish minutes apart)
    const notices = accepted(channel)
      .map((call) => {
        const text = String(call.args.text);
        return [Number(/#(\d+)/.exec(text)?.[1]), text.split(":")[0]] as const;
      })
      .sort((a, b) => a[0] - b[0]);
    assert.deepEqual(notices, [
      [2, "Failed"],
      [3, "Still failing"],
      [4, "Fixed"],
    ]);
    assert.ok(accepted(channel).every((call) => call.method === "chat.postMessage"));
  });

  it("the push and pull_request runs of one failing commit post one message between them", async () => {
    const channel = channelOf("commit");
    const sha = (letter: string) => letter.repeat(40);
    // `on: [push, pull_request]`: runs 2 (push) and 3 (pull_request) build commit b
    for (const event of [
      runEvent("commit", 1, "success", { sha: sha("a") }),
      runEvent("commit", 2, "failure", { sha: sha("b") }),
      runEvent("commit", 3, "failure", { sha: sha("b") }),
      runEvent("commit", 4, "failure", { sha: sha("c") }),
    ]) {
      await publish(event);
    }
    await eventually(() => accepted(channel).length >= 2, "two messages");
    await sleep(1000);
    const notices = accepted(channel)
      .map((call) => String(call.args.text).replace(/ on main.*/, ""))
      .sort();
    assert.deepEqual(notices, ["Failed: acme/commit CI #2", "Still failing: acme/commit CI #4"]);
  });

  it("a thread reply Slack posted but answered after the client gave up is not posted again", async () => {
    const channel = channelOf("reply");
    // Slack posts the reply at once but answers after the client's 2 s timeout
    slack.delayNext("chat.postMessage", 3000, true);
    await publish(
      runEvent("reply", 1, "failure", { job: { id: "r1", name: "unit tests" } }),
      runEvent("reply", 1, "failure"),
    );
    await eventually(
      () => accepted(channel).some((call) => call.method === "conversations.replies"),
      "the retry looking in the thread for its reply",
      40_000,
    );
    await sleep(1000);
    const replies = accepted(channel).filter(
      (call) => call.method === "chat.postMessage" && call.args.thread_ts !== undefined,
    );
    assert.equal(replies.length, 1, "one failure reply in the thread");
    assert.ok(harness.logs.some((line) => line.includes("adopted the thread reply")));
  });

  it("a failed job heard of after the thread reply went out is added to that reply", async () => {
    const channel = channelOf("late");
    // GitLab may send the pipeline's failure before the hook of its last failing job
    await publish(
      runEvent("late", 1, "failure", { job: { id: "l1", name: "unit" } }),
      runEvent("late", 1, "failure"),
    );
    const reply = await eventually(
      () => accepted(channel).find((call) => call.method === "chat.postMessage" && call.args.thread_ts),
      "the failure reply",
    );
    assert.doesNotMatch(blocksText(reply), /e2e/);
    await publish(runEvent("late", 1, "failure", { job: { id: "l2", name: "e2e" } }));
    const updated = await eventually(
      () => accepted(channel).find((call) => call.method === "chat.update" && call.args.ts === reply.ts),
      "the reply brought up to date",
    );
    assert.match(blocksText(updated), /unit/);
    assert.match(blocksText(updated), /e2e/);
    const replies = accepted(channel).filter(
      (call) => call.method === "chat.postMessage" && call.args.thread_ts,
    );
    assert.equal(replies.length, 1, "one reply, edited in place");
  });

  it("out-of-order delivery gives the same notices as in-order", async () => {
    const channel = channelOf("order");
    await publish(
      runEvent("order", 2, "failure"),
      runEvent("order", 2, "running"),
      runEvent("order", 1, "success"),
      runEvent("order", 1, "running"),
      runEvent("order", 3, "success"),
    );
    await eventually(() => accepted(channel).length >= 2, "two messages");
    await sleep(1000);
    assert.deepEqual(
      accepted(channel).map((call) => String(call.args.text).split(":")[0]),
      ["Failed", "Fixed"],
    );
  });

  it("a burst of 500 job events of one run coalesces into a handful of calls showing the final state", async () => {
    const channel = channelOf("burst");
    await publish(runEvent("burst", 1, "failure"));
    await eventually(() => accepted(channel).length >= 1, "first post");
    const jobs: BuildEvent[] = [];
    for (let i = 0; i < 250; i++) {
      const job = { id: `job-${i}`, name: `shard ${String(i).padStart(3, "0")}` };
      jobs.push(
        runEvent("burst", 1, "running", { job, at: `2024-05-01T10:01:${String(i % 60).padStart(2, "0")}Z` }),
      );
      jobs.push(
        runEvent("burst", 1, i % 2 === 0 ? "failure" : "success", { job, at: "2024-05-01T10:02:00Z" }),
      );
    }
    await publish(...jobs);
    const finalState = /125 of 250/;
    await eventually(
      () =>
        accepted(channel).some((call) => call.method === "chat.update" && finalState.test(blocksText(call))),
      "an update with the final state",
      30_000,
    );
    await sleep(1000);
    const calls = accepted(channel);
    const post = calls.find(
      (call) => call.method === "chat.postMessage" && call.args.thread_ts === undefined,
    );
    const reply = calls.find(
      (call) => call.method === "chat.postMessage" && call.args.thread_ts !== undefined,
    );
    const updatesOf = (ts: string | undefined) =>
      calls.filter((call) => call.method === "chat.update" && call.args.ts === ts);
    // the consumer takes a few seconds for 500 events; spacing (asserted below) bounds the rest
    assert.ok(calls.length <= 40, `${calls.length} calls for 500 events`);
    assert.match(blocksText(updatesOf(post?.ts).at(-1)), finalState);
    assert.equal(calls.filter((call) => call.args.thread_ts !== undefined).length, 1, "one thread reply");
    // the reply, posted while the jobs were still coming in, ends up listing all of them
    assert.match(blocksText(updatesOf(reply?.ts).at(-1) ?? reply), /\*125 failed jobs\*/);
    // calls for one message keep the configured spacing (the thread reply is another message)
    const times = callsTo(channel)
      .filter((call) => call.args.thread_ts === undefined && call.args.ts !== reply?.ts)
      .map((call) => call.at);
    for (let i = 1; i < times.length; i++) assert.ok((times[i] ?? 0) - (times[i - 1] ?? 0) >= 250);
  });

  it("honours Retry-After on 429", async () => {
    const channel = channelOf("limit");
    slack.failNext({ status: 429, retryAfter: 1 }, 1, "chat.postMessage");
    await publish(runEvent("limit", 1, "failure"));
    const ok = await eventually(() => accepted(channel)[0], "the post after the rate limit");
    const limited = callsTo(channel).find((call) => call.answered === 429);
    assert.ok(limited, "the first call was rate limited");
    assert.ok(ok.at - limited.at >= 950, `waited ${ok.at - limited.at} ms`);
    assert.equal(callsTo(channel).length, 2);
    assert.ok((await harness.metrics.slackRateLimited.get()).values[0]?.value === 1);
  });

  it("a 429 another replica got pauses this replica's running deliveries too", async () => {
    const channel = channelOf("shared");
    // what a replica does when Slack answers it 429: it pauses the queue they share in Redis
    const connection = new Redis(harness.redis.url, { maxRetriesPerRequest: null });
    const otherReplica = new Queue(QUEUE_NAMES.slack, {
      connection,
      prefix: harness.loaded.config.redis.prefix,
    });
    try {
      await otherReplica.waitUntilReady();
      // the run's post is answered late (within the 2 s timeout): its job is running when the
      // other replica's 429 comes
      slack.delayNext("chat.postMessage", 1500);
      await publish(
        runEvent("shared", 1, "failure", { job: { id: "j1", name: "test" } }),
        runEvent("shared", 1, "failure"),
      );
      await eventually(() => callsTo(channel, "chat.postMessage")[0], "the run's post");
      const pausedAt = Date.now();
      await otherReplica.rateLimit(3000);
      const reply = await eventually(
        () => accepted(channel).find((call) => call.args.thread_ts !== undefined),
        "the failure thread reply",
      );
      assert.ok(reply.at - pausedAt >= 2950, `thread reply ${reply.at - pausedAt} ms into a 3 s pause`);
      // the reply held back by the pause was never sent: it is posted when the pause ends, not
      // looked for in the thread and waited for as one Slack may still be carrying out
      assert.ok(reply.at - pausedAt < 6000, `thread reply ${reply.at - pausedAt} ms after a 3 s pause`);
      assert.deepEqual(callsTo(channel, "conversations.replies"), []);
      assert.equal(
        callsTo(channel, "chat.postMessage").filter((call) => call.args.thread_ts === undefined).length,
        1,
      );
    } finally {
      await otherReplica.close();
      await connection.quit();
    }
  });

  it("retries a 500 with backoff", async () => {
    const channel = channelOf("flaky");
    slack.failNext({ status: 500 }, 2, "chat.postMessage");
    await publish(runEvent("flaky", 1, "failure"));
    await eventually(
      () => callsTo(channel, "chat.postMessage").find((call) => call.answered === 200),
      "the post after two 500s",
    );
    // a 5xx may come after Slack posted, or Slack may still be posting: each retry looks in
    // the channel, and looks once more when the post has had time to show, before posting again
    assert.deepEqual(
      callsTo(channel).map((call) => `${call.method} ${call.answered}`),
      [
        "chat.postMessage 500",
        "conversations.history 200",
        "conversations.history 200",
        "chat.postMessage 500",
        "conversations.history 200",
        "conversations.history 200",
        "chat.postMessage 200",
      ],
    );
  });

  it("dead-letters channel_not_found at once; the CLI lists it and its retry re-sends it", async () => {
    const channel = channelOf("bad");
    slack.failChannel(channel, "channel_not_found");
    await publish(runEvent("bad", 1, "failure"));
    const connection = new Redis(harness.redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, harness.loaded.config.redis.prefix);
    try {
      const letter = await eventually(
        async () => (await letters.list()).find((row) => row.target === channel),
        "a dead letter",
      );
      assert.match(letter.reason, /channel_not_found/);
      assert.equal(callsTo(channel).length, 1, "permanent errors are not retried");
      // the log line says what to change, not only Slack's error code (written once the
      // worker's failed handler has asked Redis about the job, a moment after it is listed)
      const logged = await eventually(
        () =>
          harness.logs
            .map((line) => JSON.parse(line) as { msg: string; slackChannel?: string; fix?: string })
            .find((line) => line.msg === "Slack delivery dead-lettered" && line.slackChannel === channel),
        "the dead letter's log line",
      );
      assert.equal(
        logged?.fix,
        "slack.channel must be the channel's id (C…, in the channel's details), and the app must be in a private channel",
      );

      const output: string[] = [];
      // the operator's CLI reads the gateway's routes, as the runbook says
      const dir = mkdtempSync(join(tmpdir(), "buildcast-bad-"));
      after(() => rmSync(dir, { recursive: true, force: true }));
      const config = join(dir, "gateway.yaml");
      writeFileSync(config, ["routes:", "  - name: bad", `    slack: { channel: "${channel}" }`].join("\n"));
      const cli = (...args: string[]) => {
        const program = new Command().exitOverride();
        registerDeadLetters(program, {
          out: { log: (line) => output.push(line) },
          env: { REDIS_URL: harness.redis.url, BUILDCAST_CONFIG: config },
        });
        return program.parseAsync(["node", "buildcast", ...args]);
      };
      await cli("dead-letters", "list");
      assert.match(output.join("\n"), new RegExp(`${letter.id}.*${channel}.*channel_not_found`));

      slack.failChannel(channel, null);
      await cli("dead-letters", "retry", letter.id);
      const sent = await eventually(() => accepted(channel)[0], "the retried post");
      assert.equal(sent.method, "chat.postMessage");
      await eventually(
        async () => (await letters.list()).every((row) => row.id !== letter.id),
        "an empty set",
      );
    } finally {
      await letters.close();
      await connection.quit();
    }
  });
  it("while Redis is down, events wait on the stream and are delivered once it is back", async () => {
    const channel = channelOf("outage");
    await harness.redis.stop();
    await publish(runEvent("outage", 1, "failure"));
    await sleep(1500);
    assert.equal(callsTo(channel).length, 0);
    await harness.redis.restart();
    const post = await eventually(() => accepted(channel)[0], "the post after Redis came back", 30_000);
    assert.match(String(post.args.text), /^Failed: acme\/outage/);
    await sleep(1000);
    assert.equal(accepted(channel).length, 1);
  });
});
