import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LogLevel, WebClient } from "@slack/web-api";
import { classifySlackError } from "../../src/notify/channels/slack-errors.ts";

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
};

/** What the delivery makes of a chat.postMessage that failed on its way to `apiUrl`. */
async function failureOf(apiUrl: string) {
  const client = new WebClient("xoxb-test-token", {
    slackApiUrl: apiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 0 },
    timeout: 2000,
    // its own "http request failed" warning is not what is tested
    logLevel: LogLevel.ERROR,
  });
  const error = await client.chat.postMessage({ channel: "C1", text: "x" }).then(
    () => assert.fail("the call succeeded"),
    (error: unknown) => error,
  );
  return classifySlackError(error);
}

describe("Slack request failures say what failed", () => {
  const resetting = createServer((req) => req.socket.destroy());
  let resettingPort = 0;
  let closedPort = 0;
  before(async () => {
    resettingPort = await listen(resetting);
    const closed = createServer();
    closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
  });
  after(() => new Promise((resolve) => resetting.close(resolve)));

  it("a refused connection is named as one, not only 'fetch failed'", async () => {
    const failure = await failureOf(`http://127.0.0.1:${closedPort}/api/`);
    assert.equal(failure.kind, "transient");
    assert.match(failure.reason, /fetch failed/);
    assert.match(failure.reason, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${closedPort}`));
  });

  it("a connection the other side closed is named as one", async () => {
    const failure = await failureOf(`http://127.0.0.1:${resettingPort}/api/`);
    assert.equal(failure.kind, "transient");
    assert.match(failure.reason, /other side closed/);
  });

  it("a TLS failure keeps OpenSSL's reason on one line", async () => {
    // a plain-HTTP server answering a TLS client: what a proxy or port mix-up looks like
    const failure = await failureOf(`https://127.0.0.1:${resettingPort}/api/`);
    assert.equal(failure.kind, "transient");
    assert.match(failure.reason, /SSL routines/);
    assert.doesNotMatch(failure.reason, /\n/);
  });
});
