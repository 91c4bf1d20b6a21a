import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configSchema } from "../../src/config/schema.ts";
import type { BuildEvent } from "../../src/events/schema.ts";
import { applyToRecord, type EntityRecord } from "../../src/notify/record.ts";
import { emailSubject, messageId, renderEmail } from "../../src/notify/render/email.ts";
import {
  escapeMrkdwn,
  renderSlackFailureThread,
  renderSlackMessage,
  SLACK_LIMITS,
  slackLink,
} from "../../src/notify/render/slack.ts";
import { recipients } from "../../src/notify/channels/email.ts";
import { authorUsername, findPerson } from "../../src/notify/people.ts";
import { buildView, formatDuration, withJobAuthor, withRunCommit } from "../../src/notify/view.ts";
import { checkRunEvent, commitStatusEvent } from "../helpers/github-runs.ts";
import { buildEvent } from "../helpers/events.ts";
import { readFixture } from "../helpers/webhooks.ts";
import { normalizeGithub } from "../../src/normalize/github.ts";

const people = configSchema.parse({
  people: [{ email: "ada@example.com", github: "ada", slack: "U012ABC" }],
}).people;

function viewOf(run: BuildEvent, jobs: BuildEvent[] = [], transition: "failed" | "fixed" | null = "failed") {
  let record: EntityRecord = applyToRecord(null, run.subject, { data: run.data }).record;
  for (const job of jobs) record = applyToRecord(record, run.subject, { job: job.data }).record;
  if (transition) {
    record = applyToRecord(record, run.subject, {
      notice: { transition, attempt: run.data.run.attempt, noticeId: "n1" },
    }).record;
  }
  return buildView({ ...record, data: run.data }, people, "https://buildcast.example.com/");
}

const allText = (message: { text: string; blocks: readonly unknown[] }) =>
  message.text + JSON.stringify(message.blocks);

describe("Slack rendering", () => {
  it("shows status, repository, branch, pipeline, commit, author mention, duration and failed jobs", () => {
    const run = buildEvent({
      status: "failure",
      durationMs: 192_000,
      runId: "42",
      sha: "0123456789abcdef0123456789abcdef01234567",
    });
    const jobs = [
      buildEvent({ status: "failure", runId: "42", job: { id: "1", name: "test (node 20)" } }),
      buildEvent({ status: "success", runId: "42", job: { id: "2", name: "lint" } }),
    ];
    const message = renderSlackMessage(viewOf(run, jobs), { mentionAuthor: true });
    const text = allText(message);
    assert.match(message.text, /^Failed: acme\/api CI #42 on main \(0123456\)$/);
    assert.match(text, /:red_circle: \*Failed\*/);
    assert.match(text, /<https:\/\/github.com\/acme\/api\/actions\/runs\/42\|CI #42>/);
    assert.match(text, /`main`/);
    assert.match(
      text,
      /<https:\/\/github.com\/acme\/api\/commit\/0123456789abcdef0123456789abcdef01234567\|0123456> Fix the flaky test/,
    );
    assert.match(text, /<@U012ABC>/);
    assert.match(text, /3m 12s/);
    assert.match(text, /<https:\/\/github.com\/acme\/api\/jobs\/1\|test \(node 20\)>/);
    assert.doesNotMatch(text, /jobs\/2/);
    assert.ok(message.blocks.length <= SLACK_LIMITS.blocks);
  });

  it("falls back to the plain name when the author is unknown or mentions are off", () => {
    const run = buildEvent({ status: "failure", author: "Grace Hopper" });
    const unknown = {
      ...run,
      data: {
        ...run.data,
        commit: {
          ...run.data.commit,
          author: { name: "Grace Hopper", email: "g@example.com", username: "grace" },
        },
      },
    };
    assert.match(allText(renderSlackMessage(viewOf(unknown), { mentionAuthor: true })), /Grace Hopper/);
    assert.doesNotMatch(allText(renderSlackMessage(viewOf(run), { mentionAuthor: false })), /<@U/);
  });

  it("neutralizes mention and link injection from provider data", () => {
    const run = buildEvent({
      status: "failure",
      title: "<!channel> deploy <@U999> & <https://evil.example|click>",
      author: "<!here> Mallory",
      branch: "x<!everyone>",
      pipeline: "CI <!subteam^S1>",
    });
    const job = buildEvent({
      status: "failure",
      job: { id: "9", name: "<@W123> job", url: "javascript:alert(1)" },
    });
    const text = allText(renderSlackMessage(viewOf(run, [job]), { mentionAuthor: false }));
    const thread = allText(renderSlackFailureThread(viewOf(run, [job])));
    for (const output of [text, thread]) {
      assert.doesNotMatch(output, /<!|<@(?!U012ABC)|<https:\/\/evil/);
      assert.doesNotMatch(output, /javascript:/);
    }
    assert.match(text, /&lt;!channel&gt; deploy &lt;@U999&gt; &amp;/);
    assert.equal(escapeMrkdwn("a<b>&c"), "a&lt;b&gt;&amp;c");
    assert.equal(slackLink("https://x.example/a|b>c", "l"), "<https://x.example/a%7Cb%3Ec|l>");
  });

  it("stays within Slack's limits for huge runs", () => {
    const run = buildEvent({ status: "failure", title: "x".repeat(10_000), pipeline: "P".repeat(5000) });
    const jobs = Array.from({ length: 400 }, (_, i) =>
      buildEvent({ status: "failure", job: { id: String(i), name: `job ${i} ${"&".repeat(200)}` } }),
    );
    for (const message of [
      renderSlackMessage(viewOf(run, jobs), { mentionAuthor: true }),
      renderSlackFailureThread(viewOf(run, jobs)),
    ]) {
      assert.ok(message.text.length <= SLACK_LIMITS.text, `text ${message.text.length}`);
      assert.ok(message.blocks.length <= SLACK_LIMITS.blocks);
      for (const block of message.blocks) {
        if ("text" in block) assert.ok(block.text.text.length <= SLACK_LIMITS.sectionText);
        if ("fields" in block && block.fields) {
          for (const field of block.fields) assert.ok(field.text.length <= SLACK_LIMITS.field);
        }
      }
    }
  });

  it("a link too long for Slack leaves out the link, not the message or the job", () => {
    // a commit status's target_url or a deployment's log_url is whatever its CI sent: a
    // pre-signed log URL carries kilobytes of query string
    const longUrl = `https://logs.example.com/run/42?X-Amz-Security-Token=${"A".repeat(3000)}`;
    const event = buildEvent({ status: "failure", runId: "42" });
    const run = { ...event, data: { ...event.data, run: { ...event.data.run, url: longUrl } } };
    const job = buildEvent({ status: "failure", runId: "42", job: { id: "1", name: "e2e", url: longUrl } });
    for (const message of [
      renderSlackMessage(viewOf(run, [job]), { mentionAuthor: true }),
      renderSlackFailureThread(viewOf(run, [job])),
    ]) {
      for (const block of message.blocks) {
        if ("text" in block) {
          assert.ok(block.text.text.length <= SLACK_LIMITS.sectionText, `${block.text.text.length}`);
        }
      }
      const text = allText(message);
      assert.match(text, /CI #42/);
      assert.match(text, /• e2e/);
      assert.doesNotMatch(text, /…and 1 more/);
    }
    // a link that fits is kept
    const fits = renderSlackMessage(viewOf(event, [job]), { mentionAuthor: true });
    assert.match(allText(fits), /<https:\/\/github.com\/acme\/api\/actions\/runs\/42\|CI #42>/);
  });

  it("headlines follow the run: running, then the transition", () => {
    const running = buildEvent({ status: "running" });
    assert.equal(viewOf(running, [], null).headline, "Running");
    assert.equal(viewOf(buildEvent({ status: "success" }), [], "fixed").headline, "Fixed");
    assert.equal(formatDuration(3_723_000), "1h 2m");
  });

  it("a run stopped at a blocking manual job says it waits, not that it runs", () => {
    const running = buildEvent({ provider: "gitlab", status: "running", runId: "42" });
    const waiting = buildEvent({
      provider: "gitlab",
      status: "manual",
      phase: "queued", // as GitLab's manual is normalized
      runId: "42",
      at: "2024-05-01T10:05:00Z",
    });
    let record = applyToRecord(null, running.subject, { data: running.data }).record;
    record = applyToRecord(record, running.subject, { data: waiting.data }).record;
    assert.equal(record.data?.status, "manual");
    assert.ok(record.data);
    assert.equal(
      buildView({ ...record, data: record.data }, people, null).headline,
      "Waiting for a manual action",
    );
  });

  it("a run retried in place shows its later finish; late and earlier notices never replace it", () => {
    const run = buildEvent({ status: "success" });
    const notice = (transition: "started" | "failed" | "fixed", noticeId: string, at: number | null) =>
      ({ notice: { transition, attempt: 1, noticeId, at } }) as const;
    let record = applyToRecord(null, run.subject, { data: run.data }).record;
    record = applyToRecord(record, run.subject, notice("failed", "a", 1_000)).record;
    record = applyToRecord(record, run.subject, notice("fixed", "b", 2_000)).record;
    assert.equal(record.notice?.transition, "fixed");
    for (const late of [notice("failed", "a", 1_000), notice("started", "c", 3_000)]) {
      const step = applyToRecord(record, run.subject, late);
      assert.equal(step.changed, false);
      assert.equal(step.record.notice?.noticeId, "b");
    }
    const viewed = buildView({ ...record, data: run.data }, people, null);
    assert.equal(viewed.headline, "Fixed");
  });

  it("a commit status re-run by its CI shows running until it ends; older statuses delivered late change nothing", () => {
    const posted = (state: "pending" | "success" | "failure", second: number) =>
      commitStatusEvent(state, second).data;
    const key = "github/1/run";
    const headline = (record: EntityRecord) => {
      assert.ok(record.data);
      return buildView({ ...record, data: record.data }, people, null).headline;
    };
    let record = applyToRecord(null, key, { data: posted("pending", 1) }).record;
    record = applyToRecord(record, key, {
      data: posted("failure", 50),
      notice: { transition: "failed", attempt: 1, noticeId: "a", at: 50_000 },
    }).record;
    assert.equal(headline(record), "Failed");
    const rerun = applyToRecord(record, key, { data: posted("pending", 200) });
    assert.equal(rerun.changed, true, "the message is updated");
    record = rerun.record;
    assert.equal(record.data?.status, "running");
    assert.equal(headline(record), "Running");
    for (const late of [posted("failure", 50), posted("pending", 1)]) {
      const step = applyToRecord(record, key, { data: late });
      assert.equal(step.changed, false);
      assert.equal(step.record.data?.status, "running");
    }
    record = applyToRecord(record, key, {
      data: posted("success", 290),
      notice: { transition: "fixed", attempt: 1, noticeId: "b", at: 290_000 },
    }).record;
    assert.equal(headline(record), "Fixed");
    assert.equal(applyToRecord(record, key, { data: posted("pending", 200) }).changed, false);
  });

  it("lists only the newest try of a retried job (GitLab gives the retry a new id)", () => {
    const run = buildEvent({ status: "success", runId: "42" });
    const tries = [
      buildEvent({ status: "failure", runId: "42", job: { id: "10", name: "test", stage: "test" } }),
      buildEvent({
        status: "success",
        runId: "42",
        job: { id: "11", name: "test", stage: "test" },
        startedAt: "2024-05-01T10:20:00Z",
        at: "2024-05-01T10:25:00Z",
      }),
      buildEvent({ status: "failure", runId: "42", job: { id: "12", name: "test", stage: "deploy" } }),
    ];
    const view = viewOf(run, tries, "fixed");
    assert.deepEqual(
      view.failedJobs.map((job) => job.url),
      ["https://github.com/acme/api/jobs/12"],
    );
    assert.equal(view.jobCount, 2);
  });

  it("lists only the newest try of a re-requested check run of another GitHub app", () => {
    const [first, second] = [checkRunEvent(40, "failure", 1), checkRunEvent(41, "success", 5)];
    const suite = buildEvent({ status: "success", runId: first.data.run.id });
    const view = viewOf(suite, [first, second], "fixed");
    assert.deepEqual(view.failedJobs, []);
    assert.equal(view.jobCount, 1);
  });

  it("lists every failed GitHub Actions job of the attempt, even beside a passing one of its name", () => {
    // Actions retries a job only as a new run attempt: two `name: Lint` jobs are two jobs
    const run = buildEvent({ status: "failure", runId: "42" });
    const lint = (id: string, status: "success" | "failure", minute: number, marked: boolean) =>
      buildEvent({
        status,
        runId: "42",
        startedAt: `2024-05-01T10:0${minute}:00Z`,
        at: `2024-05-01T10:0${minute + 4}:00Z`,
        job: { id, name: "Lint", ...(marked ? { retriedByAttempt: true } : {}) },
      });
    // the passing one started later and finished last
    const lints = (marked: boolean) => [lint("101", "failure", 1, marked), lint("102", "success", 2, marked)];
    const view = viewOf(run, lints(true));
    assert.deepEqual(
      view.failedJobs.map((job) => job.url),
      ["https://github.com/acme/api/jobs/101"],
    );
    assert.equal(view.jobCount, 2);
    // a record the release before wrote (its job lines unmarked) reads as it did
    assert.equal(viewOf(run, lints(false)).jobCount, 1);
  });

  it("lists a failed Actions job that a finished re-run of other jobs did not run again", () => {
    // "Re-run job" on Lint: attempt 2 runs Lint alone; Test keeps its failure
    const job = (attempt: number, id: string, name: string, status: "success" | "failure") =>
      buildEvent({ attempt, status, runId: "42", job: { id, name, retriedByAttempt: true } });
    const jobs = [
      job(1, "1", "Lint", "failure"),
      job(1, "2", "Test", "failure"),
      job(1, "3", "Build", "success"),
      job(2, "4", "Lint", "success"),
    ];
    const finished = viewOf(buildEvent({ attempt: 2, status: "failure", runId: "42" }), jobs);
    assert.deepEqual(
      finished.failedJobs.map((failed) => failed.url),
      ["https://github.com/acme/api/jobs/2"],
    );
    assert.equal(finished.jobCount, 3);
    const running = viewOf(buildEvent({ attempt: 2, status: "running", runId: "42" }), jobs, null);
    assert.deepEqual(running.failedJobs, [], "while it runs, only what it ran");
  });
});

describe("failed job lists", () => {
  const failing = (count: number, name = (i: number) => `test shard ${i}`) => {
    const run = buildEvent({ status: "failure", runId: "42" });
    const jobs = Array.from({ length: count }, (_, i) =>
      buildEvent({
        status: "failure",
        runId: "42",
        job: {
          id: String(30_000_000_000 + i),
          name: name(i),
          url: `https://github.com/acme/api/actions/runs/42/job/${30_000_000_000 + i}`,
        },
      }),
    );
    return viewOf(run, jobs);
  };
  const listed = (text: string) => [...text.matchAll(/job\/(\d+)\|/g)].length;
  const more = (text: string) => Number(/…and (\d+) more$/.exec(text)?.[1] ?? 0);

  it("the message counts every job it leaves out, however many there are", () => {
    for (const count of [20, 21, 25, 40]) {
      const message = renderSlackMessage(failing(count), { mentionAuthor: false });
      const list = message.blocks[2];
      assert.ok(list && "text" in list);
      assert.equal(listed(list.text.text) + more(list.text.text), count, list.text.text);
    }
  });

  it("the thread reply shows every failed job it can, and counts the rest", () => {
    const long = (i: number) => `test (ubuntu-latest, node ${18 + (i % 3)}, postgres 15, shard ${i}/400)`;
    for (const count of [40, 400]) {
      const thread = renderSlackFailureThread(failing(count, long));
      const sections = thread.blocks.slice(1).map((b) => ("text" in b ? b.text.text : ""));
      const shown = sections.reduce((n, text) => n + listed(text), 0);
      assert.equal(shown + more(sections.at(-1) ?? ""), count);
      if (count === 40) assert.equal(shown, 40, "40 jobs fit in the sections a reply may use");
      // only the last section may say what was left out
      for (const text of sections.slice(0, -1)) assert.doesNotMatch(text, /more$/);
      for (const text of sections) assert.ok(text.length <= SLACK_LIMITS.sectionText);
      const heading = thread.blocks[0] && "text" in thread.blocks[0] ? thread.blocks[0].text.text : "";
      const total = [heading, ...sections].reduce((n, text) => n + text.length, 0);
      assert.ok(total <= SLACK_LIMITS.blocksText, `${total} characters of block text`);
    }
  });
});

describe("a job's notice", () => {
  it("takes title and author from its run's event of the same commit (GitHub jobs carry only the sha)", () => {
    const run = buildEvent({ status: "failure", runId: "42", title: "Fix login", author: "Ada Lovelace" });
    const bare = buildEvent({ status: "failure", runId: "42", job: { id: "7", name: "test" } });
    const job = {
      ...bare,
      data: { ...bare.data, commit: { ...bare.data.commit, title: null, author: null } },
    };
    const filled = withRunCommit(job.data, run.data);
    assert.equal(filled.commit.title, "Fix login");
    assert.equal(filled.commit.author?.name, "Ada Lovelace");
    assert.equal(
      viewOf({ ...job, data: filled }).author.slackId,
      "U012ABC",
      "the people map finds the author",
    );
    // another commit's run says nothing about this job
    // a deployment's run id is its own: no run event describes its commit
    const deployment = { ...job.data, kind: "deployment" as const };
    assert.equal(withRunCommit(deployment, run.data).commit.title, null);
    const other = buildEvent({ status: "failure", runId: "42", sha: "f".repeat(40), title: "Other" });
    assert.equal(withRunCommit(job.data, other.data).commit.title, null);
    assert.equal(withRunCommit(job.data, null), job.data);
  });
});

describe("a GitLab pipeline's notice", () => {
  it("takes its author's username from a job event of the run (GitLab job hooks link the profile)", () => {
    const bare = buildEvent({ provider: "gitlab", status: "failure", runId: "42", author: "Razyl" });
    const author = { name: "Razyl", email: null, username: null };
    const pipeline = { ...bare.data, commit: { ...bare.data.commit, author } };
    const jobEvent = buildEvent({
      provider: "gitlab",
      status: "failure",
      runId: "42",
      author: "Razyl",
      job: { id: "7", name: "t" },
    });
    const jobData = {
      ...jobEvent.data,
      commit: { ...jobEvent.data.commit, author: { ...author, username: "razylvidal" } },
    };
    const { record } = applyToRecord(null, "gitlab/1/42", { data: pipeline, job: jobData });
    assert.deepEqual(record.jobAuthor, { sha: pipeline.commit.sha, name: "Razyl", username: "razylvidal" });
    assert.equal(withJobAuthor(pipeline, record.jobAuthor).commit.author?.username, "razylvidal");
    // only the same author of the same commit
    const other = { ...pipeline, commit: { ...pipeline.commit, author: { ...author, name: "Someone" } } };
    assert.equal(withJobAuthor(other, record.jobAuthor), other);
    assert.equal(
      withJobAuthor(pipeline, { sha: "f".repeat(40), name: "Razyl", username: "razylvidal" }),
      pipeline,
    );
    assert.equal(withJobAuthor(pipeline, null), pipeline);
  });
});

describe("change requests", () => {
  const withRequest = (provider: "github" | "gitlab") => {
    const run = buildEvent({ provider, status: "failure", runId: "42" });
    return { ...run, data: { ...run.data, ref: { ...run.data.ref, pullRequest: 12 } } };
  };

  it("names and links a GitHub pull request and a GitLab merge request each its own way", () => {
    const github = allText(renderSlackMessage(viewOf(withRequest("github")), { mentionAuthor: false }));
    assert.match(github, /<https:\/\/github.com\/acme\/api\/pull\/12\|PR #12>/);
    const gitlab = viewOf(withRequest("gitlab"));
    assert.match(
      allText(renderSlackMessage(gitlab, { mentionAuthor: false })),
      /<https:\/\/gitlab.example.com\/acme\/api\/-\/merge_requests\/12\|MR !12>/,
    );
    const mail = renderEmail(gitlab, "failed");
    assert.match(
      mail.text,
      /Merge request: MR !12 <https:\/\/gitlab.example.com\/acme\/api\/-\/merge_requests\/12>/,
    );
    assert.match(
      mail.html,
      /<a href="https:\/\/gitlab.example.com\/acme\/api\/-\/merge_requests\/12">MR !12<\/a>/,
    );
  });
});

describe("tags", () => {
  it("a run of a tag names it a tag, not a branch", () => {
    const spec = { provider: "gitlab", status: "failure", runId: "43", branch: "v1.0" } as const;
    const run = buildEvent(spec);
    const tagged = buildEvent({ ...spec, refType: "tag" });
    const mail = renderEmail(viewOf(tagged), "failed");
    assert.match(mail.text, /^Tag: v1\.0$/m);
    assert.doesNotMatch(mail.text, /Branch:/);
    assert.match(mail.html, />Tag</);
    assert.match(renderEmail(viewOf(run), "failed").text, /^Branch: v1\.0$/m);
  });
});

describe("provider text in one-line places", () => {
  it("a multi-line pipeline name or author name keeps subject and headline whole", () => {
    const run = buildEvent({
      status: "failure",
      runId: "42",
      pipeline: "Fix login\n\nCloses #12",
      author: "Ada\nBcc",
    });
    const view = viewOf(run);
    assert.equal(emailSubject(view, "failed"), "[acme/api] Fix login failed on main (0123456)");
    assert.match(
      renderSlackMessage(view, { mentionAuthor: false }).text,
      /^Failed: acme\/api Fix login #42 on main/,
    );
    assert.equal(view.author.name, "Ada");
  });

  it("a status buildcast has no word for is shown short, after what is known of the run", () => {
    const stale = buildEvent({ status: "unknown", runId: "42" });
    assert.equal(
      viewOf({ ...stale, data: { ...stale.data, providerStatus: "stale" } }, [], null).headline,
      "Finished (stale)",
    );
    const odd = { ...stale.data, phase: "started" as const, providerStatus: `${"x".repeat(5000)}\n*bold*` };
    const view = viewOf({ ...stale, data: odd }, [], null);
    assert.equal(view.headline, `Running (${"x".repeat(39)}…)`);
    const header = renderSlackMessage(view, { mentionAuthor: false }).blocks[0];
    assert.ok(header && "text" in header && header.text.text.length < 500);
  });
});

describe("bidirectional controls in provider text (Trojan Source)", () => {
  // every control that can reorder the text around it: embeddings and overrides, isolates
  const CONTROLS = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"];
  const BIDI = /[\u202a-\u202e\u2066-\u2069]/;
  const fixture = JSON.parse(readFixture("github/workflow_run.completed.1.json")) as {
    workflow_run: Record<string, unknown> & { head_commit: Record<string, unknown> };
    workflow: Record<string, unknown>;
    repository: Record<string, unknown>;
  };

  /** A failed GitHub run whose branch, workflow, commit title and author each carry `control`. */
  function spoofedRun(control: string): BuildEvent {
    const run = fixture.workflow_run;
    const result = normalizeGithub({
      event: "workflow_run",
      deliveryId: null,
      payload: {
        ...fixture,
        workflow: { ...fixture.workflow, name: `CI${control}dliub` },
        workflow_run: {
          ...run,
          head_repository: fixture.repository,
          status: "completed",
          conclusion: "failure",
          head_branch: `main${control}tset-pu`,
          name: `CI${control}dliub`,
          display_title: `Fix${control}txet`,
          head_commit: {
            ...run.head_commit,
            message: `Fix${control}txet`,
            author: { name: `Ada${control}nikwol`, email: "ada@example.com" },
          },
        },
      },
    });
    assert.ok(result.handled);
    const event = result.events[0];
    assert.ok(event);
    // the repository's name too: GitLab project names are free text
    return {
      ...event,
      data: { ...event.data, repository: { ...event.data.repository, fullName: `acme/api${control}x` } },
    };
  }

  for (const control of CONTROLS) {
    const code = `U+${control.codePointAt(0)?.toString(16).toUpperCase().padStart(4, "0")}`;
    it(`${code} in a name reaches neither Slack nor e-mail; a visible mark stands in for it`, () => {
      const run = spoofedRun(control);
      assert.match(run.data.ref.name ?? "", BIDI, "the normalized event keeps what GitHub sent");
      const job = {
        ...run,
        data: {
          ...run.data,
          kind: "job" as const,
          job: {
            id: "1",
            name: `test${control}x`,
            url: null,
            stage: null,
            runnerName: null,
            allowFailure: false,
          },
        },
      };
      const view = viewOf(run, [job]);
      const slack = renderSlackMessage(view, { mentionAuthor: false });
      const thread = renderSlackFailureThread(view);
      const mail = renderEmail(view, "failed");
      for (const [where, text] of [
        ["Slack text", slack.text],
        ["Slack blocks", JSON.stringify(slack.blocks)],
        ["thread text", thread.text],
        ["thread blocks", JSON.stringify(thread.blocks)],
        ["e-mail subject", mail.subject],
        ["e-mail text", mail.text],
        ["e-mail html", mail.html],
      ] as const) {
        assert.doesNotMatch(text, BIDI, `${code} in the ${where}`);
      }
      assert.match(mail.subject, /^\[acme\/api\ufffdx\] CI\ufffddliub failed on main\ufffdtset-pu \(/);
      assert.match(slack.text, /on main\ufffdtset-pu \(/);
      assert.match(JSON.stringify(slack.blocks), /`main\ufffdtset-pu`/);
      assert.match(mail.text, /Author: Ada\ufffdnikwol/);
      assert.match(thread.text, /Failed jobs: test\ufffdx/);
    });
  }

  it("keeps right-to-left text and its marks (LRM, RLM, ALM): they cannot reverse a run of letters", () => {
    const title = "\u05ea\u05d9\u05e7\u05d5\u05df \u200f(#12)\u200e \u0625\u0635\u0644\u0627\u062d\u061c";
    const run = spoofedRun("");
    const view = viewOf({ ...run, data: { ...run.data, commit: { ...run.data.commit, title } } }, []);
    assert.ok(renderEmail(view, "failed").text.includes(title));
    assert.ok(JSON.stringify(renderSlackMessage(view, { mentionAuthor: false }).blocks).includes(title));
  });
});

describe("who the author is", () => {
  const github = (email: string) => {
    const data = buildEvent({ status: "failure" }).data;
    return { ...data, commit: { ...data.commit, author: { name: "Mat", email, username: null } } };
  };

  it("reads the login in GitHub's and GitLab's noreply addresses", () => {
    assert.equal(authorUsername(github("12345+matfax@users.noreply.github.com")), "matfax");
    assert.equal(authorUsername(github("matfax@users.noreply.github.com")), "matfax");
    const gitlab = { ...github("1234-raque.zha@users.noreply.gitlab.com"), provider: "gitlab" as const };
    assert.equal(authorUsername(gitlab), "raque.zha");
    assert.equal(authorUsername(github("mat@example.com")), null);
    const map = configSchema.parse({ people: [{ github: "matfax", slack: "U0MATFAX" }] }).people;
    assert.equal(findPerson(map, github("12345+matfax@users.noreply.github.com"))?.slack, "U0MATFAX");
  });

  it("takes GitLab's pusher for a redacted author of the same name, and no one else", () => {
    const base = buildEvent({ provider: "gitlab", status: "failure" }).data;
    const data = {
      ...base,
      commit: { ...base.commit, author: { name: "raquezha", email: null, username: null } },
      actor: { name: "raquezha", email: null, username: "raquezha" },
    };
    assert.equal(authorUsername(data), "raquezha");
    assert.equal(
      authorUsername({ ...data, actor: { name: "Someone Else", email: null, username: "else" } }),
      null,
    );
  });

  it("mails one plain author address, never a list or a noreply one", () => {
    const route = configSchema.parse({
      routes: [{ name: "r", email: { to: ["team@example.com"], author: true } }],
    }).routes[0];
    assert.ok(route);
    const to = (email: string) => recipients(route, github(email), []);
    assert.deepEqual(to("mat@example.co.uk"), ["team@example.com", "mat@example.co.uk"]);
    assert.deepEqual(to("dev@corp"), ["team@example.com", "dev@corp"], "an internal host without a dot");
    for (const bad of [
      "m@evil.example, ceo@example.com",
      "m@evil.example;ceo@example.com",
      "Mat <m@evil.example>",
      "1234-alice@users.noreply.gitlab.com",
      "12345+mat@users.noreply.github.com",
      "[REDACTED]",
      "a\u0001b@example.com",
      "a\u0085b@example.com", // a C1 control
      "x@y\u200bz.com", // zero-width: reads as another address than it routes to
      "\u202eevil@example.com", // a bidi override
      "a@.",
      "a@b..c",
    ]) {
      assert.deepEqual(to(bad), ["team@example.com"], bad);
    }
  });
});

describe("e-mail rendering", () => {
  it("subject names repository, pipeline, transition, branch and short sha", () => {
    const view = viewOf(buildEvent({ status: "failure", sha: "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2" }));
    assert.equal(emailSubject(view, "failed"), "[acme/api] CI failed on main (a1b2c3d)");
    assert.equal(emailSubject(view, "fixed"), "[acme/api] CI fixed on main (a1b2c3d)");
  });

  it("escapes HTML, keeps one-line subjects and lists failed jobs in both parts", () => {
    const run = buildEvent({
      status: "failure",
      title: "<script>alert(1)</script>\nBcc: x@evil",
      branch: "a\r\nb",
    });
    const job = buildEvent({ status: "failure", job: { id: "1", name: "build <b>" } });
    const mail = renderEmail(viewOf(run, [job]), "failed");
    assert.doesNotMatch(mail.subject, /[\r\n]/);
    assert.doesNotMatch(mail.html, /<script>|<b>/);
    assert.match(mail.html, /&lt;script&gt;/);
    assert.match(mail.html, /<a href="https:\/\/github.com\/acme\/api\/jobs\/1">build &lt;b&gt;<\/a>/);
    assert.match(mail.text, /Failed jobs:\n- build <b> <https:\/\/github.com\/acme\/api\/jobs\/1>/);
    assert.match(mail.text, /Author: Ada Lovelace/);
  });

  it("Message-IDs use the sender's domain", () => {
    assert.equal(messageId("abc", "buildcast <ci@example.org>"), "<abc@example.org>");
  });
});
