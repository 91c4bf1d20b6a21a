import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { BuildEvent } from "../../src/events/schema.ts";
import { buildEvent } from "../helpers/events.ts";
import { eventually, startNotifyHarness, type NotifyHarness } from "../helpers/notify-harness.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";

/** A GitLab `parallel: matrix` job's name, some 190 characters, numbered. */
const matrixJobName = (n: number): string =>
  `integration-tests: [ubuntu-22.04-amd64-large, node-20.11.1, postgres-16.2-alpine, redis-7.2, ` +
  `kafka-3.6, elasticsearch-8.12, packages/services/payments-reconciliation-worker, shard ${n}/400]`;

let slack: SlackServer;
let harness: NotifyHarness;

before(async () => {
  slack = await startSlackServer();
  harness = await startNotifyHarness(
    { SLACK_BOT_TOKEN: "xoxb-test-token", SLACK_API_URL: slack.apiUrl },
    {
      nats: { consumer: { maxDeliver: 3 } },
      routes: [
        {
          name: "monorepo",
          match: { repositories: ["acme/monorepo"], kinds: ["pipeline"] },
          on: ["failed"],
          slack: { channel: "CMONOREPO", threadFailures: true },
        },
      ],
      notify: {
        slack: { apiUrl: slack.apiUrl, minInterval: 100, timeout: 2000 },
        delivery: { attempts: 4, backoff: 200, concurrency: 8 },
      },
    },
  );
});

after(async () => {
  await harness.close();
  await slack.close();
});

const publishAll = async (events: readonly BuildEvent[]): Promise<void> => {
  const { js } = harness.bus;
  for (let i = 0; i < events.length; i += 200) {
    await Promise.all(
      events
        .slice(i, i + 200)
        .map((event) => js.publish(event.type, JSON.stringify(event), { msgID: event.id })),
    );
  }
};

describe("notices about runs of thousands of jobs", () => {
  it("are sent for a pipeline of 3,000 jobs, its jobs hooked as they were created", async () => {
    const jobs = 3000;
    const common = { provider: "gitlab" as const, repository: "acme/monorepo", runId: "8001" };
    const job = (i: number) => ({
      id: `8001${String(i).padStart(5, "0")}`,
      name: matrixJobName(i),
      stage: "test",
    });
    const events: BuildEvent[] = [];
    // GitLab hooks every job as it is created (pending), before any of them runs
    for (let i = 0; i < jobs; i++)
      events.push(buildEvent({ ...common, status: "queued", at: "2024-05-01T10:00:05Z", job: job(i) }));
    for (let i = 0; i < jobs; i++) {
      const status = i % 100 === 0 ? "failure" : "success";
      events.push(buildEvent({ ...common, status, at: "2024-05-01T10:05:00Z", job: job(i) }));
    }
    events.push(buildEvent({ ...common, status: "failure", at: "2024-05-01T10:06:00Z" }));
    await publishAll(events);
    const posted = await eventually(
      () => slack.accepted("chat.postMessage").find((call) => call.args.channel === "CMONOREPO"),
      "the pipeline's failure posted",
      60_000,
    );
    assert.match(String(posted.args.text), /^Failed: acme\/monorepo/);
    // every failed job is told, though the record keeps 1,000 of the 3,000 jobs
    await eventually(
      () =>
        [...slack.accepted("chat.postMessage"), ...slack.accepted("chat.update")].some((call) =>
          JSON.stringify(call.args).includes("*Failed jobs*\\n30 of"),
        ),
      "the notice counting the 30 failed jobs",
      30_000,
    );
    // and the thread reply listing them fits Slack's limits (the local API refuses what Slack would)
    await eventually(
      () =>
        slack
          .accepted("chat.postMessage")
          .some((call) => call.args.channel === "CMONOREPO" && call.args.thread_ts !== undefined),
      "the thread reply listing the failed jobs",
      30_000,
    );
    const deadLettered = harness.logs.filter((line) => line.includes("message dead-lettered"));
    assert.deepEqual(deadLettered, [], "no event of the run was given up");
  });
});
