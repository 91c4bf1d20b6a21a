import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { runKey } from "../../src/events/ids.ts";
import type { BuildEvent, Status } from "../../src/events/schema.ts";
import { DeadLetters } from "../../src/notify/dead-letters.ts";
import { minuteRun, publishEvents, type EventSpec } from "../helpers/events.ts";
import { eventually, sleep, startNotifyHarness, type NotifyHarness } from "../helpers/notify-harness.ts";
import { startSmtpSink, type SinkMail, type SmtpSink } from "../helpers/smtp-sink.ts";

let smtp: SmtpSink;
let harness: NotifyHarness;

before(async () => {
  smtp = await startSmtpSink();
  smtp.rejectRecipient("nobody@example.com");
  harness = await startNotifyHarness(
    { SMTP_URL: smtp.url },
    {
      people: [{ email: "ada@example.org", github: "ada", slack: "U012ABC" }],
      routes: [
        {
          name: "team",
          match: {
            repositories: ["acme/api", "acme/flaky", "acme/encoded", "acme/late-jobs"],
            branches: ["main"],
          },
          on: ["failed", "still_failing", "fixed"],
          email: { to: ["team@example.com"], author: true },
        },
        // two routes that both mail the team and the author about acme/overlap
        {
          name: "overlap-main",
          match: { repositories: ["acme/overlap"], branches: ["main"] },
          on: ["failed"],
          email: { to: ["Team@example.com"], author: true },
        },
        {
          name: "overlap-all",
          match: { repositories: ["acme/overlap"] },
          on: ["failed"],
          email: { to: ["team@example.com", "lead@example.com"], author: true },
        },
        {
          name: "jobs",
          match: { repositories: ["acme/jobs"], kinds: ["job"] },
          on: ["failed"],
          email: { to: ["qa@example.com"] },
        },
        {
          name: "job-authors",
          match: { repositories: ["acme/job-authors"], kinds: ["job"] },
          on: ["failed"],
          email: { to: ["qa@example.com"], author: true },
        },
        // the shipped default route: the author alone
        {
          name: "author-only",
          match: { repositories: ["acme/private-emails"] },
          on: ["failed", "fixed"],
          email: { author: true },
        },
        {
          name: "bounce",
          match: { repositories: ["acme/bounce"] },
          on: ["failed"],
          email: { to: ["nobody@example.com"] },
        },
        // a list where the server refuses some addresses and takes the others
        {
          name: "greylist",
          match: { repositories: ["acme/greylist"] },
          on: ["failed"],
          email: { to: ["team@example.com", "slow@example.com"] },
        },
        {
          name: "partial-bounce",
          match: { repositories: ["acme/partial-bounce"] },
          on: ["failed"],
          email: { to: ["team@example.com", "gone@example.com"] },
        },
      ],
      notify: {
        email: { from: "buildcast <ci@buildcast.example>", delay: 3000 },
        delivery: { attempts: 4, backoff: 200, concurrency: 4 },
      },
    },
  );
});

after(async () => {
  await harness.close();
  await smtp.close();
});

// a commit per run, all shortened to a1b2c3d
const runEvent = (repository: string, n: number, status: Status, extra: EventSpec = {}) =>
  minuteRun(
    repository,
    n,
    status,
    { sha: `a1b2c3d4e5f60718293a4b5c6d7e8f90123456${String(n).padStart(2, "0")}`, ...extra },
    200,
  );
const publish = (...events: BuildEvent[]) => publishEvents(harness.bus.js, ...events);
const mailsFor = (repository: string): SinkMail[] =>
  smtp.mails.filter((mail) => mail.parsed.subject?.startsWith(`[${repository}]`));

describe("e-mail notices", () => {
  it("sends failed, still_failing and fixed, threaded under the failed mail, with HTML and text parts", async () => {
    const events = [
      runEvent("acme/api", 1, "success"),
      runEvent("acme/api", 2, "failure"),
      runEvent("acme/api", 2, "failure", { job: { id: "j1", name: "unit <tests>" } }),
      runEvent("acme/api", 3, "failure"),
      runEvent("acme/api", 4, "success"),
    ];
    for (const event of events) await publish(event);
    const mails = await eventually(() => {
      const found = mailsFor("acme/api");
      return found.length >= 3 ? found : undefined;
    }, "three mails");
    // a duplicate (past the JetStream dedup window) and a late event send nothing more
    await harness.bus.js.publish(events[1]!.type, JSON.stringify(events[1]), { msgID: "again" });
    await publish(runEvent("acme/api", 2, "running"));
    await sleep(1000);
    assert.equal(mailsFor("acme/api").length, 3);

    const bySubject = new Map(mails.map((mail) => [mail.parsed.subject, mail]));
    const failed = bySubject.get("[acme/api] CI failed on main (a1b2c3d)");
    const still = bySubject.get("[acme/api] CI still failing on main (a1b2c3d)");
    const fixed = bySubject.get("[acme/api] CI fixed on main (a1b2c3d)");
    assert.ok(failed && still && fixed, [...bySubject.keys()].join(", "));
    assert.deepEqual([...failed.envelopeTo].sort(), ["ada@example.org", "team@example.com"]);
    assert.match(failed.parsed.messageId ?? "", /^<[0-9a-f]{24}@buildcast\.example>$/);
    assert.equal(failed.parsed.inReplyTo, undefined);
    assert.equal(still.parsed.inReplyTo, failed.parsed.messageId);
    assert.equal(fixed.parsed.inReplyTo, failed.parsed.messageId);
    assert.deepEqual([fixed.parsed.references].flat(), [failed.parsed.messageId]);
    assert.match(
      String(failed.parsed.html),
      /<h2[^>]*>Failed: <a href="https:\/\/github.com\/acme\/api\/actions\/runs\/202">CI<\/a>/,
    );
    assert.match(failed.parsed.text ?? "", /Commit: a1b2c3d Fix the flaky test/);
    assert.equal(failed.parsed.headers.get("x-buildcast-transition"), "failed");
    // vacation responders and Exchange's out-of-office replies stay quiet
    assert.equal(failed.parsed.headers.get("auto-submitted"), "auto-generated");
    assert.equal(failed.parsed.headers.get("x-auto-response-suppress"), "OOF, AutoReply");
  });

  it("a pipeline name that reads as an encoded word is shown as it is, not decoded", async () => {
    // GitLab's `workflow:name: $CI_COMMIT_TITLE` makes any commit title the pipeline's name
    const name = `=?UTF-8?B?${Buffer.from("fixed ✅").toString("base64")}?=`;
    await publish(runEvent("acme/encoded", 1, "failure", { pipeline: name }));
    const mail = await eventually(() => mailsFor("acme/encoded")[0], "the mail");
    assert.equal(mail.parsed.subject, `[acme/encoded] ${name} failed on main (a1b2c3d)`);
  });

  it("a failure mail lists a failed job whose event came after the pipeline's", async () => {
    // GitLab sends job and pipeline hooks independently: the pipeline's often comes first
    await publish(runEvent("acme/late-jobs", 1, "failure"));
    await sleep(300);
    await publish(runEvent("acme/late-jobs", 1, "failure", { job: { id: "unit", name: "unit" } }));
    const mail = await eventually(() => mailsFor("acme/late-jobs")[0], "the failure mail");
    assert.match(
      mail.parsed.text ?? "",
      /Failed jobs:\n- unit <https:\/\/github\.com\/acme\/late-jobs\/jobs\/unit>/,
    );
  });

  it("mails each address once when several routes match the same notice", async () => {
    await publish(runEvent("acme/overlap", 1, "failure"));
    await eventually(() => mailsFor("acme/overlap").length >= 2 || undefined, "both routes' mails");
    await sleep(800);
    const mails = mailsFor("acme/overlap");
    const addresses = mails.flatMap((mail) => mail.envelopeTo.map((address) => address.toLowerCase()));
    assert.deepEqual(addresses.sort(), ["ada@example.org", "lead@example.com", "team@example.com"]);
    assert.equal(mails.length, 2, "the second route mails only who the first did not");
  });

  it("says once per author that an author with only a noreply address gets no mail", async () => {
    const by = (event: BuildEvent, email: string, username: string | null): BuildEvent => ({
      ...event,
      data: { ...event.data, commit: { ...event.data.commit, author: { name: "Bob", email, username } } },
    });
    const noreply = "583231+bob@users.noreply.github.com";
    await publish(by(runEvent("acme/private-emails", 1, "failure"), noreply, null));
    await publish(by(runEvent("acme/private-emails", 2, "success"), noreply, null));
    await publish(by(runEvent("acme/private-emails", 3, "failure"), "carol@example.com", "carol"));
    await eventually(() => mailsFor("acme/private-emails").length === 1 || undefined, "carol's mail");
    const said = harness.logs
      .filter((line) => line.includes("no e-mail address to mail"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(said.length, 1, said.map((line) => JSON.stringify(line)).join("\n"));
    assert.equal(said[0]?.author, "bob");
    assert.equal(said[0]?.route, "author-only");
    assert.ok(!JSON.stringify(said[0]).includes(noreply), "the address itself is not logged");
    assert.deepEqual(mailsFor("acme/private-emails")[0]?.envelopeTo, ["carol@example.com"]);
  });

  it("a job allowed to fail that fails sends no job notice; a job that may not fail does", async () => {
    await publish(
      runEvent("acme/jobs", 1, "failure", { job: { id: "lint", name: "lint", allowFailure: true } }),
      runEvent("acme/jobs", 1, "failure", { job: { id: "test", name: "test" } }),
    );
    await eventually(() => mailsFor("acme/jobs").length > 0 || undefined, "the job notice");
    await sleep(800);
    assert.deepEqual(
      mailsFor("acme/jobs").map((mail) => mail.parsed.subject),
      ["[acme/jobs] CI / test failed on main (a1b2c3d)"],
    );
  });

  it("a job's mail names the commit and mails its author, though GitHub's job payloads carry only the sha", async () => {
    const run = runEvent("acme/job-authors", 1, "running", { title: "Fix login" });
    const bare = runEvent("acme/job-authors", 1, "failure", { job: { id: "test", name: "test" } });
    const job = {
      ...bare,
      data: { ...bare.data, commit: { ...bare.data.commit, title: null, author: null } },
    };
    await publish(run, job);
    const mail = await eventually(() => mailsFor("acme/job-authors")[0], "the job notice");
    assert.deepEqual([...mail.envelopeTo].sort(), ["ada@example.org", "qa@example.com"]);
    assert.match(mail.parsed.text ?? "", /Fix login/);
    assert.match(mail.parsed.text ?? "", /Author: Ada Lovelace/);
  });

  it("retries a transient SMTP error", async () => {
    smtp.failNext(1);
    await publish(runEvent("acme/flaky", 1, "failure"));
    const [mail] = await eventually(() => {
      const found = mailsFor("acme/flaky");
      return found.length > 0 ? found : undefined;
    }, "the mail after a 451");
    assert.equal(mail?.parsed.subject, "[acme/flaky] CI failed on main (a1b2c3d)");
  });

  it("dead-letters a permanent recipient error with its reason", async () => {
    await publish(runEvent("acme/bounce", 1, "failure"));
    const connection = new Redis(harness.redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, harness.loaded.config.redis.prefix);
    try {
      const letter = await eventually(
        async () => (await letters.list()).find((row) => row.channel === "email"),
        "an e-mail dead letter",
      );
      assert.equal(letter.target, "nobody@example.com");
      assert.match(letter.reason, /550/);
      assert.equal(letter.attempts, 1, "not retried");
    } finally {
      await letters.close();
      await connection.quit();
    }
  });

  it("a recipient the server defers (4xx) gets the mail on a retry; the others get it once", async () => {
    smtp.deferRecipient("slow@example.com", 2);
    await publish(runEvent("acme/greylist", 1, "failure"));
    await eventually(
      () =>
        mailsFor("acme/greylist").some((mail) => mail.envelopeTo.includes("slow@example.com")) || undefined,
      "the mail to the deferred address",
    );
    await sleep(1000);
    const mails = mailsFor("acme/greylist");
    assert.deepEqual(
      mails.map((mail) => [...mail.envelopeTo]),
      [["team@example.com"], ["slow@example.com"]],
    );
    assert.equal(mails[0]?.parsed.messageId, mails[1]?.parsed.messageId, "one notice, one Message-ID");
  });

  it("a recipient refused for good (5xx) is dead-lettered on its own; its retry mails only it", async () => {
    smtp.rejectRecipient("gone@example.com");
    const event = runEvent("acme/partial-bounce", 1, "failure");
    await publish(event);
    const connection = new Redis(harness.redis.url, { maxRetriesPerRequest: null });
    const letters = new DeadLetters(connection, harness.loaded.config.redis.prefix);
    try {
      const letter = await eventually(
        async () => (await letters.list()).find((row) => row.subject === runKey(event.data)),
        "a dead letter for the refused address",
      );
      assert.equal(letter.target, "gone@example.com");
      assert.match(letter.reason, /gone@example\.com.*550/);
      assert.equal(letter.attempts, 1, "not retried");
      assert.deepEqual(
        mailsFor("acme/partial-bounce").map((mail) => [...mail.envelopeTo]),
        [["team@example.com"]],
      );
      const deadLettered = (await harness.metrics.deliveries.get()).values.find(
        (value) => value.labels.channel === "email" && value.labels.outcome === "dead_letter",
      );
      assert.ok((deadLettered?.value ?? 0) >= 1, "counted as a dead letter");

      // the address is fixed on the mail server's side; the operator retries the dead letter
      smtp.rejectRecipient("gone@example.com", false);
      assert.equal(await letters.retry(letter.id), true);
      await eventually(() => mailsFor("acme/partial-bounce").length >= 2 || undefined, "the retried mail");
      await sleep(800);
      assert.deepEqual(
        mailsFor("acme/partial-bounce").map((mail) => [...mail.envelopeTo]),
        [["team@example.com"], ["gone@example.com"]],
      );
    } finally {
      await letters.close();
      await connection.quit();
    }
  });
});
