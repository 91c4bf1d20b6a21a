import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createNotifyService, type NotifyService } from "../../src/notify/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import { buildEvent, publishEvent } from "../helpers/events.ts";
import { eventually, sleep, startNotifyHarness, type NotifyHarness } from "../helpers/notify-harness.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";

// generous: the recent event must still be inside the window once the consumer is created,
// however slowly a loaded machine gets there
const LOOKBACK_MS = 10_000;

let slack: SlackServer;
let harness: NotifyHarness;
let turnedOn: NotifyService | undefined;

before(async () => {
  slack = await startSlackServer();
  // the stream exists and holds events before Slack is turned on: start with Slack off
  harness = await startNotifyHarness(
    {},
    {
      routes: [{ name: "all", on: ["failed"], slack: { channel: "CLOOK" } }],
      notify: { slack: { apiUrl: slack.apiUrl }, lookback: `${LOOKBACK_MS}ms` },
    },
  );
});

after(async () => {
  await turnedOn?.stop();
  await harness.close();
  await slack.close();
});

const failure = (repository: string) => buildEvent({ repository, status: "failure" });
const noticed = () =>
  slack
    .accepted("chat.postMessage")
    .map((call) => /^Failed: (\S+)/.exec(String(call.args.text))?.[1])
    .sort();

describe("turning a channel on later", () => {
  it("starts its consumer notify.lookback back in the stream: older failures are never announced", async () => {
    await publishEvent(harness.bus.js, failure("acme/old"));
    await sleep(LOOKBACK_MS + 1500);
    await publishEvent(harness.bus.js, failure("acme/recent"));

    const logger = createLogger({ level: "warn", secrets: [], write: () => undefined });
    turnedOn = createNotifyService({
      ...harness.bus,
      config: harness.loaded.config,
      secrets: { ...harness.loaded.secrets, slackBotToken: "xoxb-test-token" },
      logger,
      metrics: createMetrics(),
    });
    await turnedOn.start();
    await publishEvent(harness.bus.js, failure("acme/new"));

    await eventually(() => noticed().length >= 2 || undefined, "the recent and the new failure");
    await sleep(1000);
    assert.deepEqual(noticed(), ["acme/new", "acme/recent"]);
    const info = await harness.bus.jsm.consumers.info(harness.loaded.config.nats.stream.name, "notify-slack");
    assert.equal(info.config.deliver_policy, "by_start_time");
  });
});
