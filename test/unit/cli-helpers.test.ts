import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { deadLetterTable } from "../../src/cli/commands/dead-letters.ts";
import { configReport } from "../../src/cli/config-report.ts";
import { loadConfig } from "../../src/config/load.ts";
import { inferWebhook } from "../../src/cli/infer-webhook.ts";
import { chooseReplayStart } from "../../src/cli/replay-start.ts";
import { parseSince } from "../../src/cli/since.ts";
import { FIXTURES } from "../helpers/webhooks.ts";

describe("parseSince", () => {
  const now = Date.parse("2024-05-01T12:00:00Z");
  test("durations count back from now", () => {
    assert.equal(parseSince("2h", now), Date.parse("2024-05-01T10:00:00Z"));
    assert.equal(parseSince("30m", now), Date.parse("2024-05-01T11:30:00Z"));
    assert.equal(parseSince("90s", now), Date.parse("2024-05-01T11:58:30Z"));
    assert.equal(parseSince("1d", now), Date.parse("2024-04-30T12:00:00Z"));
    assert.equal(parseSince("1.5h", now), Date.parse("2024-05-01T10:30:00Z"));
  });
  test("ISO times need a zone; a bare date is UTC midnight", () => {
    assert.equal(parseSince("2024-05-01T10:00:00Z", now), Date.parse("2024-05-01T10:00:00Z"));
    assert.equal(parseSince("2024-05-01T12:00:00+02:00", now), Date.parse("2024-05-01T10:00:00Z"));
    assert.equal(parseSince("2024-05-01", now), Date.parse("2024-05-01T00:00:00Z"));
    assert.throws(() => parseSince("2024-05-01T10:00", now), /ISO time with a zone/);
  });
  test("garbage and the future are refused", () => {
    assert.throws(() => parseSince("yesterday", now), /neither a duration/);
    assert.throws(() => parseSince("2h ago", now), /neither a duration/);
    assert.throws(() => parseSince("2024-05-02T00:00:00Z", now), /in the future/);
  });
  test("a duration reaching back before 1970 starts at the beginning, rather than at no time at all", () => {
    // 999999999d used to end the replay with "Invalid time value"
    assert.equal(parseSince("999999999d", now), 0);
    assert.equal(new Date(parseSince("100000d", now)).toISOString(), "1970-01-01T00:00:00.000Z");
  });
  test("a day the month does not have is refused, not rolled over into the next month", () => {
    // Date.parse takes 2024-02-30 for March 1st: a replay would skip the two days meant
    assert.throws(() => parseSince("2024-02-30T10:00:00Z", now), /2024-02-30 is not a date/);
    assert.throws(() => parseSince("2023-02-29", now), /2023-02-29 is not a date/);
    assert.throws(() => parseSince("2024-04-31T08:00:00+02:00", now), /2024-04-31 is not a date/);
    assert.equal(parseSince("2024-02-29T10:00:00Z", now), Date.parse("2024-02-29T10:00:00Z"));
    assert.equal(parseSince("2024-03-31", now), Date.parse("2024-03-31T00:00:00Z"));
  });
});

describe("chooseReplayStart", () => {
  const since = new Date("2024-05-01T10:00:00Z");
  test("a caught-up consumer starts at --since", () => {
    const start = chooseReplayStart(since, {
      ackFloorSequence: 40,
      ackPending: 0,
      pending: 0,
      firstUnackedTime: null,
    });
    assert.deepEqual(start, { policy: "by_start_time", time: since });
  });
  test("an unacked message older than --since moves the start back to it", () => {
    const start = chooseReplayStart(since, {
      ackFloorSequence: 7,
      ackPending: 1,
      pending: 3,
      firstUnackedTime: new Date("2024-05-01T09:00:00Z"),
    });
    assert.deepEqual(start, { policy: "by_start_sequence", sequence: 8 });
  });
  test("unacked messages newer than --since are replayed anyway", () => {
    const start = chooseReplayStart(since, {
      ackFloorSequence: 7,
      ackPending: 0,
      pending: 3,
      firstUnackedTime: new Date("2024-05-01T11:00:00Z"),
    });
    assert.deepEqual(start, { policy: "by_start_time", time: since });
  });
  test("an unknown time of the first unacked message errs on the early side", () => {
    const start = chooseReplayStart(since, {
      ackFloorSequence: 0,
      ackPending: 0,
      pending: 5,
      firstUnackedTime: null,
    });
    assert.deepEqual(start, { policy: "by_start_sequence", sequence: 1 });
  });
});

describe("inferWebhook", () => {
  const fixture = (path: string): unknown => JSON.parse(readFileSync(join(FIXTURES, path), "utf8"));
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ["github/workflow_run.completed.1.json", "github", "workflow_run"],
    ["github/workflow_job.queued.1.json", "github", "workflow_job"],
    ["github/check_run.completed.1.json", "github", "check_run"],
    ["github/check_suite.completed.1.json", "github", "check_suite"],
    ["github/deployment_status.created.1.json", "github", "deployment_status"],
    // made by GitHub Actions: it also carries the workflow_run and the check_run
    ["github/deployment_status.created.2.json", "github", "deployment_status"],
    ["github/status.ex.1.json", "github", "status"],
    ["github/ping.ex.1.json", "github", "ping"],
    ["github/push.ex.1.json", "github", "push"],
    ["gitlab/pipeline.doc.1.json", "gitlab", "Pipeline Hook"],
    ["gitlab/job.doc.1.json", "gitlab", "Job Hook"],
    ["gitlab/deployment.doc.1.json", "gitlab", "Deployment Hook"],
  ];
  for (const [path, provider, event] of cases) {
    test(`${path} → ${provider} ${event}`, () => {
      assert.deepEqual(inferWebhook(fixture(path)), { provider, event });
    });
  }
  test("anything else is left to the operator", () => {
    assert.deepEqual(inferWebhook({ hello: "world" }), { provider: null, event: null });
    assert.deepEqual(inferWebhook([1, 2]), { provider: null, event: null });
    assert.deepEqual(inferWebhook({ object_kind: "note" }), { provider: "gitlab", event: null });
  });
});

describe("deadLetterTable", () => {
  test("has the documented columns, cuts long reasons and writes no colour codes when piped", () => {
    assert.equal(process.stdout.isTTY, undefined, "the test runner's stdout is not a terminal");
    const table = deadLetterTable([
      {
        id: "slack:17",
        channel: "slack",
        target: "C0123456",
        route: "builds",
        subject: "github/1/42",
        reason: `slack: channel_not_found ${"x".repeat(100)}`,
        attempts: 1,
        failedAt: new Date("2026-11-30T08:00:00Z"),
      },
    ]);
    // eslint-disable-next-line no-control-regex -- looking for the escape character itself
    assert.doesNotMatch(table, /\u001b\[/);
    for (const column of ["id", "channel", "target", "subject", "attempts", "failed at", "reason"]) {
      assert.match(table, new RegExp(`│ ${column} `));
    }
    assert.match(table, /slack: channel_not_found x+…/);
    assert.doesNotMatch(table, /x{100}/);
  });
});

describe("configReport warnings", () => {
  test("a channel turned on with no route to use it says so, instead of staying silent", () => {
    const { warnings } = configReport(
      loadConfig({
        env: { SLACK_BOT_TOKEN: "xoxb-1", SMTP_URL: "smtp://mail:25" },
        overrides: { routes: [] },
      }),
    );
    assert.ok(
      warnings.some((w) => /SLACK_BOT_TOKEN is set, but no route sends to Slack/.test(w)),
      String(warnings),
    );
    assert.ok(
      warnings.some((w) => /SMTP_URL is set, but no route sends e-mail/.test(w)),
      String(warnings),
    );
  });

  test("a publish timeout past the providers' 10 s answer limit is pointed out", () => {
    const warned = (publishTimeout: string) =>
      configReport(loadConfig({ env: {}, overrides: { nats: { publishTimeout } } })).warnings.filter((w) =>
        /nats\.publishTimeout/.test(w),
      );
    assert.deepEqual(warned("5s"), []);
    assert.deepEqual(warned("9s"), []);
    const [warning] = warned("10s");
    assert.match(
      warning ?? "",
      /^nats\.publishTimeout is 10000 ms: GitHub and GitLab give up on a webhook after 10 s/,
    );
  });

  test("a webhook secret that a comma split into a short value is pointed out, without the value", () => {
    // values are comma-separated (for rotation): a generated secret that holds a comma became
    // two secrets, each accepted alone, one of them short enough to guess within the rate limit
    const warned = (env: Record<string, string>) =>
      configReport(loadConfig({ env })).warnings.filter((w) => /WEBHOOK_(SECRET|TOKEN)/.test(w));
    const split = warned({
      GITHUB_WEBHOOK_SECRET: "r9T!vQ2m#Lx8wPz4,k7",
      GITLAB_WEBHOOK_TOKEN: "Gq3,vH8n2Rk5tW1yZc6J",
    });
    assert.equal(split.length, 2, String(split));
    assert.match(
      split[0] ?? "",
      /^GITHUB_WEBHOOK_SECRET holds 2 comma-separated values, and value 2 is 2 characters/,
    );
    assert.match(
      split[1] ?? "",
      /^GITLAB_WEBHOOK_TOKEN holds 2 comma-separated values, and value 1 is 3 characters/,
    );
    for (const warning of split) assert.doesNotMatch(warning, /k7|Gq3|r9T|vH8/);
    // a rotation: two full-length values
    assert.deepEqual(
      warned({
        GITHUB_WEBHOOK_SECRET: "old-secret-0123456789,new-secret-9876543210",
        GITLAB_WEBHOOK_TOKEN: "a-token",
      }),
      [],
    );
  });

  test("a Slack channel given by name rather than id is pointed out", () => {
    const routes = [
      { name: "by-name", slack: { channel: "#builds" } },
      { name: "by-id", slack: { channel: "C0123456789" } },
    ];
    const { warnings } = configReport(
      loadConfig({ env: { SLACK_BOT_TOKEN: "xoxb-1" }, overrides: { routes } }),
    );
    assert.ok(
      warnings.some((w) => /route "by-name" names Slack channel "#builds", not its id/.test(w)),
      String(warnings),
    );
    assert.ok(!warnings.some((w) => /by-id/.test(w)), String(warnings));
    assert.ok(!warnings.some((w) => /no route sends to Slack/.test(w)), String(warnings));
  });
});
