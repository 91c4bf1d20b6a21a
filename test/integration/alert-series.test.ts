import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { startTestGateway } from "../helpers/gateway.ts";
import { startIngress } from "../helpers/ingress.ts";
import { eventually } from "../helpers/poll.ts";
import { startNats } from "../helpers/servers.ts";
import { startSlackServer } from "../helpers/slack-server.ts";
import { workflowRun } from "../helpers/synthetic-webhooks.ts";
import { GITLAB_TOKEN, postGithub, postGitlab, readFixture } from "../helpers/webhooks.ts";

const sample = async (url: string, series: string): Promise<number | undefined> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

/**
 * Prometheus's increase() cannot see a counter's first step when the series is born with
 * it (there is no earlier sample to compare with), so the runbook's dead-letter alerts,
 * `increase(…{outcome="dead_letter"}[15m]) > 0`, would miss the first dead letter of every
 * process. The series they read must exist, at 0, from the start.
 */
test("the counters the dead-letter alerts read exist at 0 before the first dead letter, then count it", async () => {
  const slack = await startSlackServer();
  const gateway = await startTestGateway({
    env: { SLACK_BOT_TOKEN: "xoxb-alerts", SLACK_API_URL: slack.apiUrl, SMTP_URL: "smtp://127.0.0.1:9" },
    overrides: {
      routes: [{ name: "failures", on: ["failed"], slack: { channel: "CGONE" } }],
      notify: { slack: { apiUrl: slack.apiUrl, minInterval: 100 }, delivery: { backoff: 100 } },
    },
  });
  try {
    const series = [
      'buildcast_deliveries_total{channel="slack",outcome="dead_letter"}',
      'buildcast_deliveries_total{channel="email",outcome="dead_letter"}',
      'buildcast_consumer_messages_total{consumer="status-store",outcome="dead_letter"}',
      'buildcast_consumer_messages_total{consumer="notify-slack",outcome="dead_letter"}',
      'buildcast_consumer_messages_total{consumer="notify-email",outcome="dead_letter"}',
    ];
    for (const name of series) assert.equal(await sample(gateway.url, name), 0, name);

    slack.failChannel("CGONE", "channel_not_found");
    const body = workflowRun({ runId: 42, status: "completed", conclusion: "failure", at: 5 });
    assert.equal((await postGithub(gateway.url, "workflow_run", body)).status, 202);
    await eventually(
      async () => (await sample(gateway.url, series[0] ?? "")) === 1,
      "the Slack dead letter counted",
      20_000,
    );
  } finally {
    await gateway.close();
    await slack.close();
  }
});

/**
 * BuildcastWebhooksUnavailable pages on rejected_503 as "JetStream unreachable and the spool
 * full or disabled". A 503 `busy` (more than server.bodyMemory of bodies arriving at once,
 * which a stranger can cause with unsigned bodies) says nothing about JetStream.
 */
test("a 503 busy is counted apart from the 503 of an unavailable JetStream", async () => {
  const nats = await startNats();
  const ingress = await startIngress(nats, null, { server: { bodyMemory: "50kb", requestTimeout: "10s" } });
  const port = Number(new URL(ingress.url).port);
  const body = JSON.stringify({ object_kind: "pipeline", padding: "x".repeat(60_000) });
  const head =
    `POST /webhooks/gitlab HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `X-Gitlab-Token: ${GITLAB_TOKEN}\r\nX-Gitlab-Event: Pipeline Hook\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const send = (text: string) => {
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const answered = new Promise<string>((resolve) =>
      socket.on("data", (chunk: Buffer) => {
        answer += chunk.toString();
        if (answer.endsWith("}")) resolve(answer);
      }),
    );
    socket.write(text);
    return { socket, answered };
  };
  try {
    // the first holds 30 KB of its body; the second does not fit beside it
    const first = send(head + body.slice(0, 30_000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = send(head + body);
    assert.match(await second.answered, /^HTTP\/1\.1 503[\s\S]*"error":"busy"/);
    second.socket.destroy();
    first.socket.destroy();
    assert.equal(
      await sample(
        ingress.url,
        'buildcast_webhooks_total{provider="gitlab",event="Pipeline Hook",outcome="rejected_busy"}',
      ),
      1,
    );
    assert.equal(
      await sample(
        ingress.url,
        'buildcast_webhooks_total{provider="gitlab",event="Pipeline Hook",outcome="rejected_503"}',
      ),
      0,
      "not the series BuildcastWebhooksUnavailable pages on",
    );
  } finally {
    await ingress.close();
    await nats.dispose();
  }
});

/**
 * BuildcastWebhooksUnavailable pages on `rate(…{outcome="rejected_503"}[5m]) > 0`: each such
 * webhook is lost (providers do not retry), and rate() cannot see the step a series is born
 * with. A short NATS outage with the spool off answers a few webhooks 503 within one scrape:
 * unless the series already stood at 0, the page never came. Every series it can be counted
 * in (provider and event) exists at 0 on a replica that takes webhooks.
 */
test("the series BuildcastWebhooksUnavailable reads exist at 0 before the first 503, then count it", async () => {
  const nats = await startNats();
  const ingress = await startIngress(nats, null);
  try {
    for (const [provider, event] of [
      ["github", "workflow_run"],
      ["github", "workflow_job"],
      ["github", "check_run"],
      ["github", "status"],
      ["github", "other"],
      ["gitlab", "Pipeline Hook"],
      ["gitlab", "Job Hook"],
      ["gitlab", "Deployment Hook"],
      ["gitlab", "other"],
    ]) {
      const series = `buildcast_webhooks_total{provider="${provider}",event="${event}",outcome="rejected_503"}`;
      assert.equal(await sample(ingress.url, series), 0, series);
    }

    await nats.stop(); // no spool: JetStream away means 503 unavailable
    await eventually(async () => !ingress.bus.connected(), "the gateway sees NATS gone", 10_000);
    const run = readFixture("github/workflow_run.completed.2.json");
    assert.equal((await postGithub(ingress.url, "workflow_run", run)).status, 503);
    const pipeline = readFixture("gitlab/pipeline.doc.1.json");
    assert.equal((await postGitlab(ingress.url, "Pipeline Hook", pipeline)).status, 503);
    assert.equal(
      await sample(
        ingress.url,
        'buildcast_webhooks_total{provider="github",event="workflow_run",outcome="rejected_503"}',
      ),
      1,
    );
    assert.equal(
      await sample(
        ingress.url,
        'buildcast_webhooks_total{provider="gitlab",event="Pipeline Hook",outcome="rejected_503"}',
      ),
      1,
    );
  } finally {
    await ingress.close();
    await nats.dispose();
  }
});
