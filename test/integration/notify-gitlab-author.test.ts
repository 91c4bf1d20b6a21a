import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { eventually } from "../helpers/notify-harness.ts";
import { startSlackServer, type SlackServer } from "../helpers/slack-server.ts";
import { startSmtpSink, type SmtpSink } from "../helpers/smtp-sink.ts";
import { postGitlab, readFixture } from "../helpers/webhooks.ts";

let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  slack = await startSlackServer();
  smtp = await startSmtpSink();
  gateway = await startTestGateway({
    env: { SLACK_BOT_TOKEN: "xoxb-test", SLACK_API_URL: slack.apiUrl, SMTP_URL: smtp.url },
    overrides: {
      people: [{ email: "razyl@example.com", gitlab: "razylvidal", slack: "URAZYL" }],
      routes: [
        {
          name: "jobs",
          match: { kinds: ["job"], providers: ["gitlab"] },
          on: ["failed"],
          slack: { channel: "CJOBS", mentionAuthor: true },
          email: { to: ["team@example.com"], author: true },
        },
      ],
      notify: { slack: { apiUrl: slack.apiUrl, minInterval: 200 }, delivery: { backoff: 200 } },
    },
  });
});

after(async () => {
  await gateway.close();
  await slack.close();
  await smtp.close();
});

void describe("a GitLab.com job failure (commit e-mail [REDACTED])", () => {
  void it("mentions and mails the commit author found in people by the username GitLab links", async () => {
    // pushed by raquezha, authored by razylvidal: only commit.author_url names the author
    const payload = JSON.parse(readFixture("gitlab/job.nuecagram-real.failed.json")) as Record<
      string,
      unknown
    >;
    payload["build_allow_failure"] = false;
    assert.equal((await postGitlab(gateway.url, "Job Hook", JSON.stringify(payload))).status, 202);

    const post = await eventually(() => slack.accepted("chat.postMessage")[0], "the failure message");
    assert.match(JSON.stringify(post.args.blocks), /\*Author\*\\n<@URAZYL>/);
    const mail = await eventually(() => smtp.mails[0], "the failure mail");
    assert.deepEqual([...mail.envelopeTo].sort(), ["razyl@example.com", "team@example.com"]);
  });
});
