import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { TestGateway } from "../helpers/gateway.ts";
import { closeNotifyStack, startNotifyStack } from "../helpers/notify-stack.ts";
import { eventually } from "../helpers/poll.ts";
import type { SlackServer } from "../helpers/slack-server.ts";
import type { SmtpSink } from "../helpers/smtp-sink.ts";
import { postGithub, readFixture } from "../helpers/webhooks.ts";

/**
 * An external CI (CircleCI, Jenkins) reports through GitHub commit statuses. Re-running its
 * failed build posts a new `pending` status after the `failure`: GitHub shows the context's
 * newest status, so buildcast must show the re-run running until it ends.
 */
let slack: SlackServer;
let smtp: SmtpSink;
let gateway: TestGateway;

before(async () => {
  ({ slack, smtp, gateway } = await startNotifyStack({
    routes: [
      {
        name: "main",
        match: { repositories: ["acme/*"], branches: ["main"], kinds: ["pipeline"] },
        on: ["failed", "still_failing", "fixed"],
        slack: { channel: "CMAIN" },
        email: { to: ["team@example.com"] },
      },
    ],
    notify: { slack: { minInterval: 100 }, delivery: { backoff: 100 } },
  }));
});

after(() => closeNotifyStack({ slack, smtp, gateway }));

const base = JSON.parse(readFixture("github/status.ex.1.json")) as Record<string, unknown> & {
  commit: { sha: string };
  repository: Record<string, unknown>;
};
const CONTEXT = "ci/circleci: test";

/** One status object GitHub posts for `sha` on the head of main, `second`s into the day. */
function posted(sha: string, state: "pending" | "success" | "failure", second: number): string {
  const at = new Date(Date.UTC(2026, 11, 1, 10, 0, 0) + second * 1000).toISOString().replace(".000Z", "Z");
  return JSON.stringify({
    ...base,
    id: 5000 + second,
    sha,
    context: CONTEXT,
    state,
    created_at: at,
    updated_at: at,
    target_url: `https://circleci.com/gh/acme/api/${second}`,
    branches: [{ name: "main", commit: { sha, url: "" }, protected: false }],
    commit: { ...base.commit, sha },
    repository: { ...base.repository, full_name: "acme/api", html_url: "https://github.com/acme/api" },
  });
}

async function send(body: string): Promise<Record<string, unknown>> {
  const answer = await postGithub(gateway.url, "status", body);
  assert.equal(answer.status, 202);
  return answer.body;
}

async function contextState(): Promise<string | undefined> {
  const response = await fetch(`${gateway.url}/api/v1/status?repository=acme/api&branch=main`);
  if (response.status !== 200) return undefined;
  const answer = (await response.json()) as { pipelines: { pipeline: string; state: string }[] };
  return answer.pipelines.find((p) => p.pipeline === CONTEXT)?.state;
}

async function badgeTitle(): Promise<string | undefined> {
  const svg = await (await fetch(`${gateway.url}/badge.svg?repository=acme/api&branch=main`)).text();
  return /<title>([^<]*)<\/title>/.exec(svg)?.[1];
}

const messagesIn = (ts: string) =>
  slack
    .accepted()
    .filter((call) => call.ts === ts || call.args.ts === ts)
    .map((call) => String(call.args.text));

const subjects = () => smtp.mails.map((mail) => mail.parsed.subject ?? "");

describe("a failed commit status re-run by its CI", () => {
  it("shows running in the store, the badge and the Slack message until the re-run ends, then fixed", async () => {
    const A = "a".repeat(40);
    await send(posted(A, "pending", 1));
    await send(posted(A, "failure", 50));
    const post = await eventually(() => slack.accepted("chat.postMessage")[0], "the failure message");
    assert.match(String(post.args.text), /^Failed: /);
    await eventually(() => subjects().some((s) => / failed on main /.test(s)), "the failure mail");
    await eventually(async () => (await contextState()) === "failing", "the store to say failing");
    const ts = post.ts!;

    await send(posted(A, "pending", 200));
    await eventually(async () => (await contextState()) === "running", "the store to show the re-run");
    assert.match((await badgeTitle()) ?? "", /running/);
    await eventually(() => messagesIn(ts).at(-1)?.startsWith("Running: "), "the message to show the re-run");
    // GitHub's "Redeliver" of the failure: the same state, stored once
    assert.equal((await send(posted(A, "failure", 50))).duplicates, 1);

    await send(posted(A, "success", 290));
    await eventually(async () => (await contextState()) === "passing", "the store to say passing");
    await eventually(() => messagesIn(ts).at(-1)?.startsWith("Fixed: "), "the message to say fixed");
    await eventually(() => subjects().some((s) => / fixed on main /.test(s)), "the fixed mail");
    assert.equal(slack.accepted("chat.postMessage").length, 1, "one message for the run, updated in place");
    assert.equal(smtp.mails.length, 2, "a failed and a fixed mail, no more");
  });

  it("a failure delivered after its re-run's pending does not show over the running re-run", async () => {
    const B = "b".repeat(40);
    const posts = slack.accepted("chat.postMessage").length;
    const mails = smtp.mails.length;
    await send(posted(B, "pending", 301));
    await send(posted(B, "pending", 500));
    await send(posted(B, "failure", 390)); // GitHub delivered it late
    // the failure still happened: its notice goes out, and the message shows what runs now
    const post = await eventually(() => slack.accepted("chat.postMessage")[posts], "the message of B");
    assert.match(String(post.args.text), /^Running: /);
    await eventually(() => smtp.mails.length > mails, "the failure mail");
    assert.match(subjects().at(-1) ?? "", / failed on main /);
    await eventually(async () => (await contextState()) === "running", "the store to show the re-run");

    await send(posted(B, "success", 590));
    await eventually(() => messagesIn(post.ts!).at(-1)?.startsWith("Fixed: "), "the message to say fixed");
    await eventually(async () => (await contextState()) === "passing", "the store to say passing");
  });
});
