import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { BuildEvent } from "../../src/events/schema.ts";
import { applyEvent } from "../../src/status/merge.ts";
import type { RunState } from "../../src/status/model.ts";
import { branchStatus, dashboardRows } from "../../src/status/queries.ts";
import { renderRow } from "../../src/status/dashboard/row.ts";
import { branchOf, mergeBranch, summarize } from "../../src/status/summary.ts";
import { runDetail } from "../../src/status/run-detail.ts";
import { checkRunEvent, commitStatusEvent } from "../helpers/github-runs.ts";
import { buildEvent } from "../helpers/events.ts";

const fold = (events: readonly BuildEvent[], start: RunState | null = null): RunState | null =>
  events.reduce<RunState | null>((state, event) => applyEvent(state, event), start);

const t = (minute: number) => `2024-05-01T10:${String(minute).padStart(2, "0")}:00Z`;

describe("status merge", () => {
  it("moves a run forward only: a late running after finished is ignored", () => {
    const queued = buildEvent({ status: "queued", at: t(0) });
    const running = buildEvent({ status: "running", at: t(1) });
    const done = buildEvent({ status: "failure", at: t(5) });
    const state = fold([done, running, queued]);
    assert.equal(state?.pipeline?.status, "failure");
    assert.deepEqual(state, fold([queued, running, done]));
  });

  it("lets a later finish win over an earlier one (GitLab: success → running → failed after a manual job)", () => {
    const first = buildEvent({ status: "success", at: t(5) });
    const rerun = buildEvent({ status: "running", at: t(7) });
    const last = buildEvent({ status: "failure", at: t(9) });
    assert.equal(fold([first, rerun, last])?.pipeline?.status, "failure");
    assert.equal(fold([last, first, rerun])?.pipeline?.status, "failure");
  });

  it("starts afresh on a higher attempt and ignores the older attempt afterwards", () => {
    const failed = buildEvent({ status: "failure", at: t(5) });
    const failedJob = buildEvent({ status: "failure", at: t(4), job: { id: "j1", name: "test" } });
    const retry = buildEvent({ status: "running", attempt: 2, at: t(10) });
    const state = fold([failed, failedJob, retry]);
    assert.equal(state?.attempt, 2);
    assert.equal(state?.pipeline?.status, "running");
    assert.deepEqual(state?.jobs, []);
    assert.equal(applyEvent(state, failed), state, "an event of attempt 1 changes nothing");
  });

  it("returns the same object when an event is applied twice", () => {
    const event = buildEvent({ status: "running", job: { id: "j1", name: "build" } });
    const once = applyEvent(null, event);
    assert.equal(applyEvent(once, event), once);
    const roundTripped = JSON.parse(JSON.stringify(once)) as RunState;
    assert.equal(applyEvent(roundTripped, event), roundTripped, "also after a JSON round trip through KV");
  });

  it("keeps each job's furthest state inside the run and lists failed jobs", () => {
    const state = fold([
      buildEvent({ status: "failure", at: t(3), job: { id: "j1", name: "test" } }),
      buildEvent({ status: "running", at: t(1), job: { id: "j1", name: "test" } }),
      buildEvent({ status: "success", at: t(2), job: { id: "j2", name: "lint" } }),
      buildEvent({ status: "failure", at: t(2), job: { id: "j3", name: "flaky", allowFailure: true } }),
    ]);
    assert.deepEqual(
      state?.jobs.map((j) => [j.id, j.status]),
      [
        ["j1", "failure"],
        ["j2", "success"],
        ["j3", "failure"],
      ],
    );
    assert.ok(state);
    const summary = summarize(state, 1);
    assert.equal(summary.status, "running", "no pipeline event yet, jobs have started");
    assert.deepEqual(
      summary.failedJobs.map((j) => j.name),
      ["test"],
      "allowed failures are not failed jobs",
    );
  });

  it("GitLab job hooks alone: a run whose jobs all finished has ended, as GitLab ends it", () => {
    const job = (id: string, name: string, status: "success" | "failure" | "skipped", minute: number) =>
      buildEvent({
        provider: "gitlab",
        status,
        createdAt: t(0),
        startedAt: t(minute),
        finishedAt: t(minute + 1),
        at: t(minute + 1),
        job: { id, name, stage: "test", allowFailure: name === "flaky" },
      });
    const failed = fold([job("1", "build", "success", 1), job("2", "test", "failure", 2)]);
    assert.ok(failed);
    assert.deepEqual(
      [summarize(failed, 1).status, summarize(failed, 1).phase, summarize(failed, 1).finishedAt],
      ["failure", "finished", t(3)],
    );
    // the failed job retried and passed; a job allowed to fail failed
    const passed = fold([job("3", "test", "success", 5), job("4", "flaky", "failure", 5)], failed);
    assert.ok(passed);
    assert.equal(summarize(passed, 2).status, "success");
    const running = fold(
      [
        buildEvent({
          provider: "gitlab",
          status: "running",
          at: t(6),
          job: { id: "5", name: "e2e", stage: "test" },
        }),
      ],
      passed,
    );
    assert.ok(running);
    assert.equal(summarize(running, 3).status, "running", "a job still going");
  });

  it("counts only the newest try of a retried job (GitLab gives the retry a new id)", () => {
    const state = fold([
      buildEvent({ status: "failure", at: t(2), startedAt: t(1), job: { id: "10", name: "test" } }),
      buildEvent({ status: "success", at: t(6), startedAt: t(4), job: { id: "11", name: "test" } }),
    ]);
    assert.ok(state);
    assert.deepEqual(summarize(state, 1).failedJobs, []);
  });

  it("counts a re-requested check run of another GitHub app by its newest try too", () => {
    const state = fold([checkRunEvent(40, "failure", 1), checkRunEvent(41, "success", 5)]);
    assert.ok(state);
    assert.deepEqual(summarize(state, 1).failedJobs, []);
    assert.deepEqual(
      runDetail(state, 1).jobs.map((job) => [job.id, job.retried]),
      [
        ["40", true],
        ["41", false],
      ],
    );
  });

  // GitHub Actions retries a job only as a new run attempt: within one, every job id is a job
  const lint = (id: string, status: "success" | "failure", start: number, retriedByAttempt?: boolean) =>
    buildEvent({
      status,
      at: t(start + 5),
      startedAt: t(start),
      job: { id, name: "Lint", ...(retriedByAttempt === undefined ? {} : { retriedByAttempt }) },
    });

  it("counts every GitHub Actions job of an attempt by its id, so a passing Lint hides no failed Lint", () => {
    const state = fold([lint("101", "failure", 1, true), lint("102", "success", 2, true)]);
    assert.ok(state);
    assert.deepEqual(
      summarize(state, 1).failedJobs.map((job) => job.id),
      ["101"],
    );
    assert.deepEqual(
      runDetail(state, 1).jobs.map((job) => [job.id, job.retried]),
      [
        ["101", false],
        ["102", false],
      ],
    );
  });

  it("reads a run stored by the release before (its jobs unmarked) as it did, and a job stored since by its id", () => {
    const stored = JSON.parse(
      JSON.stringify(fold([lint("101", "failure", 1), lint("102", "success", 2)])),
    ) as RunState;
    assert.deepEqual(summarize(stored, 1).failedJobs, [], "as the release before counted it");
    // the passing Lint's redelivery, now marked, is no newer state: the stored job stays as it was
    assert.equal(applyEvent(stored, lint("102", "success", 2, true)), stored);
    const upgraded = applyEvent(stored, lint("103", "failure", 3, true));
    assert.deepEqual(
      summarize(upgraded, 2).failedJobs.map((job) => job.id),
      ["103"],
      "a job stored since counts by its id, beside the unmarked ones' newest try",
    );
  });

  // "Re-run job" on Lint: attempt 2 runs Lint alone; GitHub sends no event of Test or Build again
  const actionsJob = (
    attempt: number,
    id: string,
    name: string,
    status: "success" | "failure",
    minute: number,
  ) => buildEvent({ attempt, status, at: t(minute), job: { id, name, retriedByAttempt: true } });
  const attempt1 = [
    actionsJob(1, "1", "Lint", "failure", 2),
    actionsJob(1, "2", "Test", "failure", 3),
    actionsJob(1, "3", "Build", "success", 3),
    buildEvent({ status: "failure", at: t(5) }),
  ];
  const attempt2 = [
    buildEvent({ attempt: 2, status: "running", at: t(10) }),
    actionsJob(2, "4", "Lint", "success", 12),
    buildEvent({ attempt: 2, status: "failure", at: t(15) }),
  ];

  it("a finished GitHub Actions attempt that re-ran some jobs keeps the others' results", () => {
    const state = fold([...attempt1, ...attempt2]);
    assert.ok(state);
    assert.deepEqual(
      summarize(state, 1).failedJobs.map((job) => [job.id, job.name]),
      [["2", "Test"]],
    );
    assert.deepEqual(
      runDetail(state, 1)
        .jobs.map((job) => job.id)
        .sort(),
      ["2", "3", "4"],
      "its jobs as GitHub shows the attempt: attempt 1's Lint was run again",
    );
    const running = fold([...attempt1, ...attempt2.slice(0, 2)]);
    assert.ok(running);
    assert.deepEqual(summarize(running, 1).failedJobs, [], "while it runs, only what it ran");
  });

  it("keeps the earlier attempt's jobs whatever order their events come in, and each once", () => {
    const inOrder = fold([...attempt1, ...attempt2]);
    const late = fold([...attempt2, ...attempt1]);
    assert.deepEqual(late, inOrder);
    const stored = JSON.parse(JSON.stringify(late)) as RunState;
    for (const event of [...attempt1, ...attempt2]) assert.equal(applyEvent(stored, event), stored);
  });

  it("keeps no job of an earlier attempt that is not a GitHub Actions job", () => {
    const state = fold([
      buildEvent({ status: "failure", at: t(2), job: { id: "1", name: "Test" } }),
      buildEvent({ attempt: 2, status: "failure", at: t(15) }),
      buildEvent({ status: "failure", at: t(3), job: { id: "2", name: "Lint" } }),
    ]);
    assert.ok(state);
    assert.equal(state.earlierJobs, undefined);
    assert.deepEqual(summarize(state, 1).failedJobs, []);
  });
});

describe("branch list merge", () => {
  const runOf = (runId: string, created: number, status: "success" | "failure" = "success") =>
    fold([buildEvent({ runId, status, createdAt: t(created), at: t(created + 1) })])!;

  it("keeps runs newest first, replaces a run by a newer revision only, and caps the list", () => {
    let branch = mergeBranch(null, runOf("1", 1), summarize(runOf("1", 1), 1), "main", 2);
    branch = mergeBranch(branch, runOf("3", 3), summarize(runOf("3", 3), 2), "main", 2);
    branch = mergeBranch(branch, runOf("2", 2), summarize(runOf("2", 2), 3), "main", 2);
    assert.deepEqual(
      branch.runs.map((r) => r.runId),
      ["3", "2"],
    );
    const stale = summarize(runOf("3", 3, "failure"), 1);
    assert.equal(mergeBranch(branch, runOf("3", 3), stale, "main", 2), branch, "older revision ignored");
    const fresh = summarize(runOf("3", 3, "failure"), 9);
    assert.equal(mergeBranch(branch, runOf("3", 3), fresh, "main", 2).runs[0]?.status, "failure");
    const ancient = summarize(runOf("0", 0), 10);
    assert.equal(mergeBranch(branch, runOf("0", 0), ancient, "main", 2), branch, "older than the kept runs");
  });

  it("a skipped run ([ci skip]) leaves a branch's state, badge and dashboard row to the run before it", () => {
    const run = (runId: string, created: number, status: "success" | "failure" | "skipped") =>
      fold([buildEvent({ runId, status, createdAt: t(created), at: t(created + 1) })])!;
    let branch = mergeBranch(null, run("1", 1, "failure"), summarize(run("1", 1, "failure"), 1), "main", 5);
    branch = mergeBranch(branch, run("2", 2, "skipped"), summarize(run("2", 2, "skipped"), 2), "main", 5);
    const query = { repository: "acme/api", branch: "main", provider: null };
    const answer = branchStatus([branch], query);
    assert.ok(answer.found);
    assert.equal(answer.value.state, "failing");
    assert.equal(answer.value.pipelines[0]?.run.runId, "1");
    assert.equal(dashboardRows([branch])[0]?.state, "failing");
    // the newest run is still listed first
    assert.equal(branch.runs[0]?.runId, "2");
    branch = mergeBranch(branch, run("3", 3, "success"), summarize(run("3", 3, "success"), 3), "main", 5);
    const fixed = branchStatus([branch], query);
    assert.equal(fixed.found && fixed.value.state, "passing");
    // only skipped runs: the newest shows, as passing
    const onlySkipped = mergeBranch(
      null,
      run("4", 4, "skipped"),
      summarize(run("4", 4, "skipped"), 4),
      "dev",
      5,
    );
    const skipped = branchStatus([onlySkipped], { ...query, branch: "dev" });
    assert.equal(skipped.found && skipped.value.state, "passing");
  });
});

describe("commit-status CI (Jenkins, CircleCI: GitHub `status` events, a run per commit and context)", () => {
  const status = (commit: string, state: "running" | "success" | "failure", minute: number) =>
    buildEvent({
      runId: `${commit.repeat(40)}:ci/jenkins`,
      runNumber: null,
      sha: commit.repeat(40),
      status: state,
      // each status has its own created_at
      createdAt: t(minute),
      at: t(minute),
    });

  it("orders runs by their first status: an old commit finishing late does not become the branch's newest", () => {
    const events = [status("a", "running", 0), status("b", "running", 1), status("b", "failure", 3)];
    const late = status("a", "success", 5);
    const a = fold([events[0]!, late])!;
    const b = fold([events[1]!, events[2]!])!;
    assert.equal(a.pipeline?.createdAt, t(0), "the first status's time, whatever came later");
    assert.deepEqual(fold([late, events[0]!]), a, "in any order");
    let branch = mergeBranch(null, b, summarize(b, 1), "main", 5);
    branch = mergeBranch(branch, a, summarize(a, 2), "main", 5);
    assert.equal(branch.runs[0]?.commit.sha, "b".repeat(40));
    const answer = branchStatus([branch], { repository: "acme/api", branch: "main", provider: null });
    assert.equal(answer.found && answer.value.state, "failing");
  });
});

describe("a commit status re-run (CircleCI, Jenkins: a new `pending` after the `failure`)", () => {
  const posted = commitStatusEvent;
  const started = posted("pending", 1);
  const failed = posted("failure", 50);
  const rerun = posted("pending", 200);
  const fixed = posted("success", 290);
  const orders = <T>(items: readonly T[]): T[][] =>
    items.length <= 1
      ? [[...items]]
      : items.flatMap((item, i) => orders(items.filter((_, j) => j !== i)).map((rest) => [item, ...rest]));

  it("shows the re-run running until it ends, as GitHub does, in any delivery order", () => {
    const before = fold([started, failed])!;
    assert.equal(before.pipeline?.status, "failure");
    const state = fold([started, failed, rerun])!;
    assert.equal(state.pipeline?.phase, "started");
    assert.equal(state.pipeline?.status, "running");
    assert.equal(state.pipeline?.finishedAt, null);
    assert.equal(state.pipeline?.createdAt, started.data.createdAt, "still as old as its first status");
    assert.equal(state.context.url, "https://circleci.com/gh/acme/api/200", "links the re-run's build");
    const summary = summarize(state, 1);
    assert.equal(summary.state, "running");
    for (const order of orders([started, failed, rerun])) {
      assert.deepEqual(fold(order), state, "the late failure never overrides the newer pending");
    }
    assert.equal(applyEvent(state, failed), state, "a redelivered failure changes nothing");
    assert.equal(applyEvent(state, started), state, "a late first pending changes nothing");
  });

  it("ends as the re-run ends, and a late pending never reopens it", () => {
    const done = fold([started, failed, rerun, fixed])!;
    assert.equal(done.pipeline?.status, "success");
    assert.equal(done.pipeline?.finishedAt, fixed.data.finishedAt);
    for (const order of orders([started, failed, rerun, fixed])) assert.deepEqual(fold(order), done);
    assert.equal(applyEvent(done, rerun), done);
  });

  it("is the newest status for any delivery order with duplicates (a join: order-independent, idempotent)", () => {
    const statusArb = fc
      .record({
        state: fc.constantFrom("pending" as const, "success" as const, "failure" as const, "error" as const),
        second: fc.integer({ min: 0, max: 30 }),
      })
      .map(({ state, second }) => posted(state, second));
    fc.assert(
      fc.property(
        fc
          .array(statusArb, { minLength: 1, maxLength: 8 })
          .chain((events) =>
            fc.tuple(
              fc.constant(events),
              fc.shuffledSubarray([...events, ...events], { minLength: events.length * 2 }),
            ),
          ),
        ([events, delivered]) => {
          const inOrder = fold(events)!;
          assert.equal(JSON.stringify(fold(delivered)), JSON.stringify(inOrder));
          const newest = Math.max(...events.map((e) => Date.parse(e.time)));
          const atNewest = new Set(
            events.filter((e) => Date.parse(e.time) === newest).map((e) => e.data.status),
          );
          // two statuses in the same second: the failure shows, so nothing hides it
          const expected = atNewest.has("failure")
            ? "failure"
            : atNewest.has("success")
              ? "success"
              : "running";
          assert.equal(inOrder.pipeline?.status, expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("GitHub Actions and GitLab runs still only move forward: a late running after a failure is ignored", () => {
    for (const provider of ["github", "gitlab"] as const) {
      const failure = buildEvent({ provider, status: "failure", at: t(5) });
      const running = buildEvent({ provider, status: "running", at: t(7) });
      assert.equal(fold([failure, running])?.pipeline?.status, "failure");
    }
  });
});

describe("the pipelines that decide a branch's state", () => {
  const lane = (
    provider: "github" | "gitlab",
    pipeline: string,
    runs: readonly { id: string; sha: string; created: number; status: "success" | "failure" | "skipped" }[],
  ) =>
    runs.reduce<ReturnType<typeof mergeBranch> | null>((branch, r, i) => {
      const run = fold([
        buildEvent({
          provider,
          pipeline,
          runId: r.id,
          sha: r.sha.repeat(40),
          status: r.status,
          createdAt: t(r.created),
          at: t(r.created + 1),
        }),
      ])!;
      return mergeBranch(branch, run, summarize(run, i + 1), "main", 5);
    }, null)!;
  const query = { repository: "acme/api", branch: "main", provider: null };
  const decided = (lanes: Parameters<typeof branchStatus>[0]) => {
    const answer = branchStatus(lanes, query);
    assert.ok(answer.found);
    return {
      state: answer.value.state,
      deciding: answer.value.pipelines.filter((p) => p.decides).map((p) => p.pipeline),
    };
  };

  it("GitHub: the workflows that built the newest commit (its combined status)", () => {
    const ci = lane("github", "CI", [{ id: "1", sha: "b", created: 1, status: "failure" }]);
    const lint = lane("github", "Lint", [{ id: "2", sha: "b", created: 2, status: "success" }]);
    assert.deepEqual(decided([ci, lint]), { state: "failing", deciding: ["CI", "Lint"] });
  });

  it("GitHub: a status first posted late for an older commit (Codecov) does not make it the newest", () => {
    // CI built a, then b (pushed while a's CI ran); Codecov's status for a came after b's CI
    // started, and b's CI failed before uploading any coverage, so b has no Codecov status
    const ci = lane("github", "CI", [
      { id: "1", sha: "a", created: 0, status: "success" },
      { id: "2", sha: "b", created: 5, status: "failure" },
    ]);
    const codecov = lane("github", "codecov/patch", [
      { id: `${"a".repeat(40)}:codecov/patch`, sha: "a", created: 10, status: "success" },
    ]);
    assert.deepEqual(decided([ci, codecov]), { state: "failing", deciding: ["CI"] });
    const [row] = dashboardRows([ci, codecov]);
    assert.equal(row?.state, "failing");
    // the row names the commit its state is about, not the one Codecov reported on last
    const commit = /<div class="commit">.*?<\/div>/.exec(renderRow(row, Date.parse(t(20))))?.[0];
    assert.match(commit ?? "", new RegExp(`/commit/${"b".repeat(40)}"`));
  });

  it("GitHub: a renamed or removed workflow stops keeping the branch red once a newer commit is built", () => {
    const old = lane("github", "CI", [{ id: "1", sha: "a", created: 1, status: "failure" }]);
    const renamed = lane("github", "Build", [{ id: "2", sha: "b", created: 2, status: "success" }]);
    assert.deepEqual(decided([old, renamed]), { state: "passing", deciding: ["Build"] });
    const rows = dashboardRows([old, renamed]);
    assert.equal(rows[0]?.state, "passing");
    const html = renderRow(rows[0], Date.parse(t(10)));
    assert.match(html, /chip older s-failing/);
    assert.doesNotMatch(html, /class="failed"/);
  });

  it("a pipeline skipped for the newest commit built nothing: it neither decides nor turns red green", () => {
    for (const provider of ["github", "gitlab"] as const) {
      const ci = lane(provider, "CI", [{ id: "1", sha: "a", created: 1, status: "failure" }]);
      const deploy = lane(provider, "Deploy", [{ id: "2", sha: "b", created: 2, status: "skipped" }]);
      assert.deepEqual(decided([ci, deploy]), { state: "failing", deciding: ["CI"] }, provider);
    }
  });

  it("GitLab: the newest pipeline, whatever its name (GitLab's pipeline badge)", () => {
    const unnamed = lane("gitlab", "pipeline", [{ id: "53479", sha: "a", created: 1, status: "failure" }]);
    const named = lane("gitlab", "Pipeline for branch: main", [
      { id: "53500", sha: "a", created: 4, status: "success" },
    ]);
    assert.deepEqual(decided([unnamed, named]), {
      state: "passing",
      deciding: ["Pipeline for branch: main"],
    });
  });
});

describe("status merge property", () => {
  const statuses = ["queued", "running", "success", "failure", "canceled"] as const;
  const eventArb = fc
    .record({
      attempt: fc.integer({ min: 1, max: 3 }),
      minute: fc.integer({ min: 0, max: 59 }),
      created: fc.integer({ min: 0, max: 59 }),
      status: fc.constantFrom(...statuses),
      job: fc.option(fc.constantFrom("j1", "j2", "j3"), { nil: null }),
      pipeline: fc.constantFrom("CI", "Deploy"),
    })
    .map((e) =>
      buildEvent({
        attempt: e.attempt,
        at: t(e.minute),
        createdAt: t(e.created),
        status: e.status,
        pipeline: e.pipeline,
        ...(e.job ? { job: { id: e.job, name: `job ${e.job}` } } : {}),
      }),
    );

  it("reaches the in-order state for any interleaving, duplication and reordering of a run's events", () => {
    fc.assert(
      fc.property(
        fc
          .array(eventArb, { minLength: 1, maxLength: 25 })
          // the id names an event's content: two generated events that share an id but not
          // their run name (CI, Deploy) are not one event delivered twice; keep the first
          .map((events) => {
            const seen = new Set<string>();
            return events.filter((event) => !seen.has(event.id) && seen.add(event.id));
          })
          .chain((events) =>
            fc.tuple(
              fc.constant(events),
              // a delivery order: every event at least once, some twice or three times, shuffled
              fc.array(fc.nat({ max: events.length - 1 }), { maxLength: events.length * 2 }).chain((extra) =>
                fc.shuffledSubarray([...events.keys(), ...extra], {
                  minLength: events.length + extra.length,
                }),
              ),
            ),
          ),
        ([events, order]) => {
          const inOrder = fold(events);
          const delivered = fold(order.map((i) => events[i]!));
          // compare what the store would hold: the JSON written to KV
          assert.deepEqual(JSON.parse(JSON.stringify(delivered)), JSON.parse(JSON.stringify(inOrder)));
          assert.equal(JSON.stringify(delivered), JSON.stringify(inOrder), "byte-identical in KV");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("applying any event a second time changes nothing", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 15 }), fc.nat(), (events, pick) => {
        const state = fold(events);
        const again = events[pick % events.length]!;
        assert.equal(applyEvent(state, again), state);
      }),
      { numRuns: 300 },
    );
  });
});

describe("which runs belong on a branch", () => {
  it("only runs on a branch: not tags, not pull request refs, not merge request refs", () => {
    const on = (branch: string | null, refType: "branch" | "tag" | null) =>
      branchOf(applyEvent(null, buildEvent({ branch, refType })));
    assert.equal(on("main", "branch"), "main");
    assert.equal(on("v1.2.3", "tag"), null);
    // CodeQL's dynamic runs name refs/pull/<n>/head: one dashboard row per pull request
    assert.equal(on("refs/pull/166/head", null), null);
    assert.equal(on(null, null), null);
  });

  it("a GitLab child pipeline reaches its branch only through its parent", () => {
    const child = buildEvent({ provider: "gitlab", status: "success" });
    const withTrigger = (trigger: string) => ({
      ...child,
      data: { ...child.data, run: { ...child.data.run, trigger } },
    });
    assert.equal(branchOf(applyEvent(null, withTrigger("parent_pipeline"))), null);
    assert.equal(branchOf(applyEvent(null, withTrigger("push"))), "main");
    // on GitHub the trigger is the workflow's event, never a child
    const github = buildEvent({ status: "success" });
    assert.equal(
      branchOf(
        applyEvent(null, {
          ...github,
          data: { ...github.data, run: { ...github.data.run, trigger: "parent_pipeline" } },
        }),
      ),
      "main",
    );
  });
});

describe("a run waiting for a person", () => {
  it("a pipeline stopped at a blocking manual job shows waiting, and running again once played", () => {
    const at = (status: "running" | "manual" | "failure", time: string) =>
      // GitLab's manual is phase queued (src/normalize/gitlab/status.ts)
      buildEvent({
        provider: "gitlab",
        status,
        ...(status === "manual" ? { phase: "queued" as const } : {}),
        at: time,
      });
    let run = applyEvent(null, at("running", "2024-05-01T10:01:00Z"));
    run = applyEvent(run, at("manual", "2024-05-01T10:05:00Z"));
    assert.equal(run.pipeline?.status, "manual");
    // a late delivery of the earlier running state does not undo it
    assert.equal(applyEvent(run, at("running", "2024-05-01T10:01:00Z")).pipeline?.status, "manual");
    run = applyEvent(run, at("running", "2024-05-01T12:00:00Z"));
    assert.equal(run.pipeline?.status, "running");
    run = applyEvent(run, at("failure", "2024-05-01T12:10:00Z"));
    // finished stays finished
    assert.equal(applyEvent(run, at("manual", "2024-05-01T13:00:00Z")).pipeline?.status, "failure");
  });
});
