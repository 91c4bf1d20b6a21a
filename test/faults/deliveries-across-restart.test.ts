import assert from "node:assert/strict";
import { test } from "node:test";
import { startGatewayProcess, type GatewayProcess } from "../helpers/gateway-process.ts";
import { eventually, sleep } from "../helpers/poll.ts";
import { startSmtpSink } from "../helpers/smtp-sink.ts";
import { emailJobs, postFailure, settledRun, setUp, terminateMidDelivery } from "./restart.ts";

test(
  "SIGTERM while a slow Slack delivery is half done: it stops after the call in flight, and the next process finishes it at once, posting nothing twice",
  { timeout: 120_000 },
  async () => {
    // each Slack call takes 4 s; the delivery needs two (the message, then its thread reply),
    // longer than the 6 s of grace
    const setup = await setUp("server: { shutdownGrace: 6s }\nnotify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 4000);
      slack.delayNext("chat.postMessage", 4000);
      const runId = 8_100_000;
      await postFailure(gateway.url, runId);
      const stopped = await terminateMidDelivery(gateway, setup);
      const output = gateway.output();

      gateway = await startGatewayProcess(env);
      const restarted = Date.now();
      // handed back at the shutdown, it is taken at once (left active, it would wait for its
      // 30 s lock to expire and bullmq's stalled-job check)
      const { tookMs, run } = await settledRun(setup, runId, restarted, 90_000);
      const replyAt = (run?.replies[0]?.at ?? 0) - stopped.exitedAt;
      console.log(
        `the delivery was done ${tookMs} ms after the next process was ready (its thread reply posted ${replyAt} ms after the first one exited): ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      assert.equal(stopped.code, 0, output);
      assert.ok(stopped.stopMs < 5500, `stopped after ${stopped.stopMs} ms`);
      assert.equal(stopped.active, 0, "no delivery left active for bullmq's stalled-job check");
      assert.ok(replyAt > 0, "the thread reply was left to the next process");
      assert.ok(tookMs < 15_000, `the delivery was done ${tookMs} ms after the restart`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);

test(
  "SIGTERM while one Slack call outlasts the grace: the delivery is handed back to wait before the exit, and the next process adopts the post and finishes",
  { timeout: 120_000 },
  async () => {
    // Slack takes the post at once but answers only after 8 s, past the 4 s of grace
    const setup = await setUp("server: { shutdownGrace: 4s }\nnotify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.delayNext("chat.postMessage", 8000);
      const runId = 8_100_001;
      await postFailure(gateway.url, runId);
      const stopped = await terminateMidDelivery(gateway, setup);
      const output = gateway.output();

      gateway = await startGatewayProcess(env);
      const restarted = Date.now();
      const { tookMs, run } = await settledRun(setup, runId, restarted, 90_000);
      console.log(
        `the delivery was done ${tookMs} ms after the next process was ready: ${run?.posts.length} posts, ${run?.updates.length} updates, ${run?.replies.length} thread replies, ${slack.accepted("conversations.history").length} history look-ups`,
      );

      assert.equal(stopped.code, 0, output);
      assert.equal(stopped.active, 0, "no delivery left active for bullmq's stalled-job check");
      assert.ok(tookMs < 15_000, `the delivery was done ${tookMs} ms after the restart`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);

test(
  "SIGTERM while Slack's 429 asks to wait 20 s: the gateway stops at once, and the next process waits the rest of the Retry-After before it posts, once",
  { timeout: 120_000 },
  async () => {
    const setup = await setUp("notify: { slack: { minInterval: 100 } }");
    const { slack, env } = setup;
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      slack.failNext({ status: 429, retryAfter: 20 }, 1, "chat.postMessage");
      const runId = 8_100_004;
      await postFailure(gateway.url, runId);
      const limited = await eventually(
        () => slack.calls.find((call) => call.answered === 429),
        "Slack's 429",
      );
      await sleep(1000);
      const stopped = await terminateMidDelivery(gateway, setup);
      const output = gateway.output();

      gateway = await startGatewayProcess(env);
      const { tookMs, run } = await settledRun(setup, runId, limited.at, 90_000);
      const postedAt = (run?.posts[0]?.at ?? 0) - limited.at;
      console.log(
        `after the 429 (Retry-After 20 s) the message was posted at ${postedAt} ms and the delivery done at ${tookMs} ms: ${run?.posts.length} posts, ${run?.replies.length} thread replies`,
      );

      assert.equal(stopped.code, 0, output);
      assert.ok(stopped.stopMs < 3000, `stopped after ${stopped.stopMs} ms`);
      assert.equal(stopped.active, 0);
      assert.ok(postedAt >= 19_500, `posted ${postedAt} ms after the 429`);
      assert.ok(tookMs < 35_000, `done ${tookMs} ms after the 429`);
      assert.equal(run?.posts.length, 1);
      assert.equal(run.replies.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await setup.dispose();
    }
  },
);

test(
  "SIGTERM while a slow mail server holds an e-mail delivery past the grace: it is handed back to wait before the exit, and the next process sends it once",
  { timeout: 120_000 },
  async () => {
    const setup = await setUp("server: { shutdownGrace: 4s }\nnotify: { email: { delay: 100ms } }", {
      route:
        "{ name: failures, match: { kinds: [pipeline] }, on: [failed], email: { to: [team@example.com] } }",
    });
    const smtp = await startSmtpSink();
    const env = { ...setup.env, SMTP_URL: smtp.url };
    let gateway: GatewayProcess | null = await startGatewayProcess(env);
    try {
      // the mail server answers the recipient only after 8 s, past the 4 s of grace
      smtp.delayNextRecipient(8000);
      await postFailure(gateway.url, 8_100_007);
      await eventually(
        async () => (await emailJobs(setup.redis.url)).active > 0,
        "the e-mail delivery under way",
      );
      const stopping = Date.now();
      const code = await gateway.terminate();
      const stopMs = Date.now() - stopping;
      const output = gateway.output();
      const { active } = await emailJobs(setup.redis.url);

      gateway = await startGatewayProcess(env);
      const restarted = Date.now();
      await eventually(() => smtp.mails.length > 0, "the e-mail", 90_000);
      const tookMs = Date.now() - restarted;
      await sleep(2000);
      console.log(
        `SIGTERM with the mail server holding the delivery: exit code ${code} after ${stopMs} ms, ${active} e-mail deliveries left active; the next process sent it ${tookMs} ms after it was ready; ${smtp.mails.length} mails`,
      );

      assert.equal(code, 0, output);
      assert.equal(active, 0);
      assert.ok(tookMs < 15_000, `sent ${tookMs} ms after the restart`);
      assert.equal(smtp.mails.length, 1);
    } finally {
      await gateway.terminate().catch(() => null);
      await smtp.close();
      await setup.dispose();
    }
  },
);
