import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LogLevel, WebClient } from "@slack/web-api";
import { classifySlackError } from "../../src/notify/channels/slack-errors.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";

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

describe("Slack refusing the bot token is told apart from a notice Slack refuses", () => {
  let slack: SlackServer;
  before(async () => {
    slack = await startSlackServer();
  });
  after(() => slack.close());

  for (const code of ["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"]) {
    it(`${code} is the token's, not the notice's: no dead letter`, async () => {
      slack.refuseToken(code);
      try {
        assert.deepEqual(await failureOf(slack.apiUrl), { kind: "token_refused", reason: code });
      } finally {
        slack.refuseToken(null);
      }
    });
  }

  it("a channel Slack does not know stays a permanent failure of that notice", async () => {
    slack.failChannel("C1", "channel_not_found");
    assert.deepEqual(await failureOf(slack.apiUrl), { kind: "permanent", reason: "channel_not_found" });
  });
});
