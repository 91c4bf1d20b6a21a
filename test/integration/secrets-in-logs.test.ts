import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import { startTestGateway } from "../helpers/gateway.ts";
import { startIngress } from "../helpers/ingress.ts";
import { startGatewayProcess } from "../helpers/gateway-process.ts";
import { startNats, startRedis } from "../helpers/servers.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import {
  GITHUB_SECRET,
  GITLAB_TOKEN,
  postGithub,
  postGitlab,
  postRaw,
  readFixture,
  type PostResult,
} from "../helpers/webhooks.ts";

const OLD_GITHUB_SECRET = "old-secret";
const SLACK_BOT_TOKEN = "xoxb-1111-2222-secretslacktoken";
const SMTP_PASSWORD = "secretpass";
const SMTP_URL = `smtp://user:${SMTP_PASSWORD}@127.0.0.1:1`;
const API_TOKEN = "api-token-known-secret-9876";

const RUN = readFixture("github/workflow_run.completed.2.json");
const PIPELINE = readFixture("gitlab/pipeline.doc.1.json");

/** Every place a secret could leak to, as text; the test fails naming the place. */
function assertNoSecrets(places: Record<string, string>, secrets: readonly string[]): void {
  for (const [place, text] of Object.entries(places)) {
    for (const secret of secrets) {
      assert.ok(!text.includes(secret), `${place} contains the secret "${secret.slice(0, 4)}…"`);
    }
  }
}

/**
 * Requests a real deployment sees, good and bad, some carrying a secret in the wrong place.
 * The answers are returned; a request whose path holds a secret is only sent, because the
 * 404 names the path back to the client that chose it, which tells nobody anything new.
 */
async function realisticTraffic(url: string): Promise<PostResult[]> {
  const lost = await postRaw(`${url}/webhooks/${GITHUB_SECRET}`, RUN, { "content-type": "application/json" });
  assert.equal(lost.status, 404);
  const gh = `${url}/webhooks/github`;
  const gl = `${url}/webhooks/gitlab`;
  const failed = RUN.replace('"conclusion": "success"', '"conclusion": "failure"');
  return [
    await postGithub(url, "workflow_run", RUN),
    await postGithub(url, "workflow_run", failed, { secret: OLD_GITHUB_SECRET, delivery: "rotated" }),
    await postGithub(url, "workflow_run", RUN, { secret: "wrong-secret" }),
    await postGitlab(url, "Pipeline Hook", PIPELINE),
    await postGitlab(url, "Pipeline Hook", PIPELINE, { token: "wrong-token" }),
    await postGitlab(url, "Pipeline Hook", "{broken"),
    // senders that paste a secret into the wrong field: it must not echo into logs or metrics
    await postRaw(gh, RUN, { "content-type": "application/json", "x-github-event": GITHUB_SECRET }),
    await postRaw(gh, RUN, { "content-type": "application/json", "x-hub-signature-256": GITHUB_SECRET }),
    await postRaw(gl, PIPELINE, {
      "content-type": "application/json",
      "x-gitlab-event": GITLAB_TOKEN,
      "x-gitlab-token": "x",
    }),
    await postRaw(gl, PIPELINE, {
      "content-type": "application/json",
      "x-gitlab-event": "Pipeline Hook",
      "x-gitlab-token": `${GITLAB_TOKEN} `, // HTTP trims the space: accepted
      authorization: `Bearer ${GITLAB_TOKEN}`,
    }),
  ];
}

async function fetchText(url: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(url, { headers });
  return `${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`;
}

describe("secrets never appear in logs, answers or metrics", () => {
  test("ingress: good and bad webhooks, then NATS down (503)", async () => {
    const nats = await startNats();
    const ingress = await startIngress(nats, null);
    try {
      const answers = await realisticTraffic(ingress.url);
      assert.deepEqual(
        answers.map((a) => a.status),
        [202, 202, 401, 202, 401, 400, 401, 401, 401, 202],
      );
      await nats.stop();
      const refused = await postGithub(ingress.url, "workflow_run", RUN.replace("master", "next"));
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      answers.push(refused);
      const metrics = await fetchText(`${ingress.url}/metrics`);
      assert.match(
        metrics,
        /buildcast_webhooks_total\{provider="github",event="other",outcome="rejected_401"\} 2/,
      );

      const logs = ingress.logs.join("");
      assert.match(logs, /webhook rejected/, "the rejections were logged");
      assert.match(logs, /could not be stored|webhook failed|disconnect/i, "the outage was logged");
      assertNoSecrets(
        {
          logs,
          answers: JSON.stringify(answers.map((a) => [a.status, a.body, [...a.headers]])),
          metrics,
        },
        [GITHUB_SECRET, OLD_GITHUB_SECRET, GITLAB_TOKEN],
      );
    } finally {
      // closing while NATS is down leaves the client's reconnect timer running (see report)
      await nats.restart();
      await ingress.close();
      await nats.dispose();
    }
  });

  test("whole gateway with Slack, SMTP and API tokens set: webhooks, deliveries that fail, API calls", async () => {
    const slack = await startSlackServer();
    slack.failNext({ error: "invalid_auth" }, 1);
    const gateway = await startTestGateway({
      env: {
        GITHUB_WEBHOOK_SECRET: `${OLD_GITHUB_SECRET},${GITHUB_SECRET}`,
        SLACK_BOT_TOKEN,
        SLACK_API_URL: slack.apiUrl,
        SMTP_URL,
        BUILDCAST_API_TOKEN: API_TOKEN,
      },
      overrides: {
        routes: [
          {
            name: "everything",
            on: ["failed", "still_failing", "fixed", "succeeded", "started", "canceled"],
            slack: { channel: "C0SECRETS" },
            email: { to: ["team@example.com"] },
          },
        ],
        // mails go at once, so the failing SMTP delivery is in the logs the test reads
        notify: { email: { delay: 0 } },
      },
    });
    const secrets = [
      GITHUB_SECRET,
      OLD_GITHUB_SECRET,
      GITLAB_TOKEN,
      SLACK_BOT_TOKEN,
      SMTP_PASSWORD,
      SMTP_URL,
      API_TOKEN,
    ];
    try {
      const answers = await realisticTraffic(gateway.url);
      assert.equal(answers[0]?.status, 202, JSON.stringify(answers[0]?.body));
      const api = [
        await fetchText(`${gateway.url}/api/v1/status`),
        await fetchText(`${gateway.url}/api/v1/status`, { authorization: "Bearer wrong" }),
        await fetchText(`${gateway.url}/api/v1/runs`, { authorization: `Bearer ${API_TOKEN}` }),
        await fetchText(`${gateway.url}/`, { authorization: `Bearer ${API_TOKEN}` }),
      ];
      // let the consumers try Slack (first call refused) and the unreachable SMTP server
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !gateway.logs.some((line) => /smtp|mail|ECONNREFUSED/i.test(line))) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const metrics = await fetchText(`${gateway.url}/metrics`);
      const logs = gateway.logs.join("");
      assert.ok(slack.calls.length > 0, "Slack was called, with the token");
      assert.equal(slack.calls[0]?.token, SLACK_BOT_TOKEN);
      assert.match(logs, /smtp|mail|ECONNREFUSED/i, "the failing SMTP delivery was logged");
      assertNoSecrets(
        {
          logs,
          answers: JSON.stringify(answers.map((a) => [a.status, a.body, [...a.headers]])),
          api: api.join("\n"),
          metrics,
        },
        secrets,
      );
    } finally {
      await gateway.close();
      await slack.close();
    }
  });

  test(
    "a Redis password gone wrong under a running gateway: its output never shows it",
    { timeout: 120_000 },
    async () => {
      const nats = await startNats();
      const password = "the-right-one-4711";
      const redis = await startRedis(undefined, { args: ["--requirepass", password] });
      const admin = new Redis(`redis://:${password}@127.0.0.1:${redis.port}`);
      try {
        const gateway = await startGatewayProcess({
          NATS_URL: nats.url,
          REDIS_URL: `redis://:${password}@127.0.0.1:${redis.port}`,
          SMTP_URL: "smtp://127.0.0.1:1",
          SLACK_BOT_TOKEN,
          SLACK_API_URL: "http://127.0.0.1:1/api/",
        });
        try {
          // the password is rotated under it: its queues and workers try it again and again
          await admin.config("SET", "requirepass", "rotated-elsewhere");
          await admin.client("KILL", "TYPE", "normal");
          await new Promise((resolve) => setTimeout(resolve, 3000));
          assert.match(gateway.output(), /WRONGPASS/, "the failure itself is reported");
          assertNoSecrets({ "gateway output": gateway.output() }, [password]);
        } finally {
          await gateway.kill();
        }
      } finally {
        admin.disconnect();
        await redis.dispose();
        await nats.dispose();
      }
    },
  );

  test(
    "a wrong Redis password stops the start with Redis's reason, not the password",
    { timeout: 120_000 },
    async () => {
      const nats = await startNats();
      const redis = await startRedis(undefined, { args: ["--requirepass", "the-right-one"] });
      const wrong = "wrong-redis-password-4711";
      try {
        const failure = await startGatewayProcess({
          NATS_URL: nats.url,
          REDIS_URL: `redis://:${wrong}@127.0.0.1:${redis.port}`,
          SMTP_URL: "smtp://127.0.0.1:1",
          SLACK_BOT_TOKEN,
          SLACK_API_URL: "http://127.0.0.1:1/api/",
        }).then(
          async (gateway) => {
            await gateway.kill();
            return "started";
          },
          (error: Error) => error.message,
        );
        assert.match(
          failure,
          new RegExp(
            `Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}/? refused this gateway: WRONGPASS.*REDIS_URL`,
          ),
        );
        assertNoSecrets({ "gateway output": failure }, [wrong]);
      } finally {
        await redis.dispose();
        await nats.dispose();
      }
    },
  );
});
