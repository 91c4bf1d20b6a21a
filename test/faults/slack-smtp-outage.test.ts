import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { DeadLetters } from "../../src/notify/dead-letters.ts";
import { startTestGateway } from "../helpers/gateway.ts";
import { eventually } from "../helpers/poll.ts";
import { startSlackServer, type SlackCall } from "../helpers/slack-server.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";
import {
  judgeMails,
  judgeSlack,
  planRuns,
  postBurst,
  runWebhooks,
  slackByRun,
  waitForIdle,
  waitUntil,
} from "./burst.ts";

const RUNS = 60;
const CHANNEL = "CFAULTS";
const GONE_CHANNEL = "CGONE";
const BOUNCING = "nobody@example.com";
const SMTP_DOWN_MS = 30_000;
const RETRY_AFTER_S = 2;

/** Calls that reached Slack while a 429's Retry-After was still running (a little slack for calls already in flight). */
function callsDuringRetryAfter(calls: readonly SlackCall[]): number {
  const limits = calls.filter((call) => call.answered === 429).map((call) => call.at);
  return calls.filter((call) =>
    limits.some((at) => call.at > at + 500 && call.at < at + RETRY_AFTER_S * 1000 - 100),
  ).length;
}

test(
  "Slack answering 429 (Retry-After) and 500 for a while, SMTP down for 30 s: everything delivered once after recovery, dead letters only for permanent errors",
  { timeout: 150_000 },
  async () => {
    const started = Date.now();
    const slack = await startSlackServer();
    const smtp = await startSmtpSink();
    const runs = planRuns(RUNS, 6_000_000, 2);
    const failing = runs.filter((run) => run.fails);
    // a few failures also go where no retry can help: a deleted channel, a bouncing address
    const doomed = failing.slice(0, 5);
    const gateway = await startTestGateway({
      env: { SLACK_BOT_TOKEN: "xoxb-faults", SLACK_API_URL: slack.apiUrl, SMTP_URL: smtp.url },
      overrides: {
        routes: [
          {
            name: "team",
            on: ["failed", "still_failing", "fixed"],
            slack: { channel: CHANNEL, mentionAuthor: false },
            email: { to: ["team@example.com"] },
          },
          {
            name: "gone",
            match: { branches: doomed.map((run) => run.branch) },
            on: ["failed"],
            slack: { channel: GONE_CHANNEL, mentionAuthor: false, threadFailures: false },
            email: { to: [BOUNCING] },
          },
        ],
        notify: {
          slack: { apiUrl: slack.apiUrl, minInterval: 100, timeout: 1000 },
          // enough attempts to outlast a 30 s outage with exponential backoff from 250 ms
          delivery: { attempts: 15, backoff: 250, concurrency: 8 },
        },
        log: { level: "warn" },
      },
    });
    const redis = new Redis(gateway.redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(redis, "buildcast");
    try {
      slack.failChannel(GONE_CHANNEL, "channel_not_found");
      smtp.rejectRecipient(BOUNCING);
      // the channel's token check at start is not what these failures are for
      await eventually(() => slack.calls.some((call) => call.method === "auth.test"), "the token check");
      // "for a while": the first calls meet a rate limit, then server errors, twice over
      for (let round = 0; round < 2; round++) {
        slack.failNext({ status: 429, retryAfter: RETRY_AFTER_S }, 2);
        slack.failNext({ status: 500 }, 12);
      }

      let smtpDown: { at: number; mails: number } | undefined;
      const outage = (async () => {
        await waitUntil(
          () => smtp.mails.length >= 3,
          () => "the first mails",
          60_000,
        );
        await smtp.stop();
        smtpDown = { at: Date.now(), mails: smtp.mails.length };
        await new Promise((resolve) => setTimeout(resolve, SMTP_DOWN_MS));
        await smtp.start();
      })();
      const burst = await postBurst(runs.flatMap(runWebhooks), {
        targets: () => [gateway.url],
        concurrency: 8,
      });
      console.log(
        `sent ${burst.sent} webhooks for ${RUNS} runs, ${failing.length} failing (${doomed.length} also routed to a deleted channel and a bouncing address): ${burst.answered} answered 202`,
      );
      await outage;
      console.log(
        `SMTP down for ${SMTP_DOWN_MS / 1000} s after ${smtpDown?.mails} mails; mails while down: ${smtp.mails.length - (smtpDown?.mails ?? 0)}`,
      );

      await waitUntil(
        () =>
          judgeSlack(slackByRun(slack, CHANNEL), failing, { threadReplies: true }).missing.length === 0 &&
          judgeMails(smtp.mails, failing).missing.length === 0,
        () => `every notice: ${smtp.mails.length} mails, ${slack.accepted().length} Slack calls accepted`,
        90_000,
      );
      await waitForIdle(gateway.nats.url, gateway.redis.url, 60_000);

      const slackVerdict = judgeSlack(slackByRun(slack, CHANNEL), failing, { threadReplies: true });
      const mailVerdict = judgeMails(smtp.mails, failing);
      const refused = slack.calls.filter(
        (call) => call.answered !== 200 && call.args.channel !== GONE_CHANNEL,
      );
      const early = callsDuringRetryAfter(slack.calls);
      const dead = await letters.list();
      const deadSlack = dead.filter((letter) => letter.channel === "slack");
      const deadMail = dead.filter((letter) => letter.channel === "email");
      console.log(
        `Slack: ${refused.filter((c) => c.answered === 429).length} answered 429, ${refused.filter((c) => c.answered === 500).length} answered 500; then ${slackVerdict.posts} posts, ${slackVerdict.replies} thread replies for ${failing.length} failures; ${slackVerdict.missing.length} missing, ${slackVerdict.doubled.length} doubled, ${slackVerdict.wrongFinal.length} not final; ${early} calls inside a Retry-After`,
      );
      console.log(
        `e-mail: ${smtp.mails.length} mails for ${failing.length} failures; ${mailVerdict.missing.length} missing, ${mailVerdict.doubled.length} doubled, ${mailVerdict.unexpected.length} unexpected`,
      );
      console.log(
        `dead letters: ${deadSlack.length} Slack (${[...new Set(deadSlack.map((l) => `${l.target}: ${l.reason}`))].join("; ")}), ${deadMail.length} e-mail (${[...new Set(deadMail.map((l) => l.target))].join(", ")})`,
      );
      console.log(`took ${Math.round((Date.now() - started) / 1000)} s`);

      assert.deepEqual(slackVerdict.missing, []);
      assert.deepEqual(slackVerdict.doubled, []);
      assert.deepEqual(slackVerdict.wrongFinal, []);
      assert.deepEqual(slackVerdict.wrongReplies, []);
      assert.equal(slackVerdict.posts, failing.length);
      assert.deepEqual(mailVerdict, { missing: [], doubled: [], unexpected: [] });
      assert.equal(early, 0, "no call while a Retry-After runs");
      // permanent errors, and only they, are dead letters: one per doomed notice
      assert.ok(deadSlack.length >= doomed.length);
      for (const letter of deadSlack) {
        assert.equal(letter.target, GONE_CHANNEL);
        assert.match(letter.reason, /channel_not_found/);
      }
      assert.equal(deadMail.length, doomed.length);
      for (const letter of deadMail) {
        assert.equal(letter.target, BOUNCING);
        assert.match(letter.reason, /550/);
      }
      assert.deepEqual(
        new Set(deadMail.map((letter) => letter.subject)),
        new Set(deadSlack.map((letter) => letter.subject)),
        "the same doomed runs",
      );
    } finally {
      await letters.close();
      await redis.quit().catch(() => undefined);
      await gateway.close();
      await slack.close();
      await smtp.close().catch(() => undefined);
    }
  },
);
