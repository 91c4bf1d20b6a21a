import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BuildEvent } from "../../src/events/schema.ts";
import { applyEvent } from "../../src/status/merge.ts";
import type { RunState } from "../../src/status/model.ts";
import { runDetail } from "../../src/status/run-detail.ts";
import { keepWithinBytes } from "../../src/status/run-limit.ts";
import { summarize } from "../../src/status/summary.ts";
import { buildEvent } from "../helpers/events.ts";

const job = (id: string, name: string, status: "queued" | "success" | "failure", at: string): BuildEvent =>
  buildEvent({ provider: "gitlab", runId: "9", status, at, startedAt: at, job: { id, name, stage: "test" } });

const fit = (run: RunState, maxBytes: number): RunState =>
  keepWithinBytes(run, Buffer.byteLength(JSON.stringify(run)), maxBytes);

describe("run records too large for NATS", () => {
  // 300 matrix jobs that passed, and "build" that failed and then passed on retry (a new id)
  const events = [
    ...Array.from({ length: 300 }, (_, i) =>
      job(String(1000 + i), `shard ${i}`, "success", "2024-05-01T10:05:00Z"),
    ),
    job("1", "build", "failure", "2024-05-01T10:01:00Z"),
    job("2", "build", "success", "2024-05-01T10:03:00Z"),
    job("3", "lint", "failure", "2024-05-01T10:02:00Z"),
  ];
  const whole = events.reduce<RunState | null>(applyEvent, null) as RunState;
  const bytes = Buffer.byteLength(JSON.stringify(whole));

  it("leaves passing jobs out first, counted, and keeps both tries of a retried job", () => {
    const kept = fit(whole, bytes / 2);
    assert.ok(Buffer.byteLength(JSON.stringify(kept)) <= bytes / 4 + 1000, "half the limit");
    const ids = kept.jobs.map((j) => j.id);
    for (const id of ["1", "2", "3"]) assert.ok(ids.includes(id), `job ${id} kept`);
    const summary = summarize(kept, 2);
    assert.deepEqual(
      summary.failedJobs.map((j) => j.name),
      ["lint"],
      "the retried build passed",
    );
    assert.equal(summary.failedJobCount, undefined);
    assert.equal(summary.status, summarize(whole, 1).status);
    assert.equal(summary.finishedAt, summarize(whole, 1).finishedAt, "times of the jobs left out count");
    const detail = runDetail(kept, 2);
    assert.equal(detail.jobs.length + (detail.omittedJobs ?? 0), 303);
    assert.equal(fit(whole, bytes), whole, "a record that fits is itself");
  });

  it("ignores a late event of a job left out, and takes one that got further", () => {
    const queued = events
      .slice(0, 300)
      .map((e) => job(e.data.job!.id, e.data.job!.name, "queued", "2024-05-01T10:00:00Z"));
    const waiting = fit(queued.reduce<RunState | null>(applyEvent, null) as RunState, 20_000);
    const left = Object.keys(waiting.omittedJobs?.jobs ?? {});
    assert.ok(left.length > 200, `${left.length} left out`);
    const id = left[0] as string;
    const again = applyEvent(waiting, job(id, "whatever", "queued", "2024-05-01T10:00:30Z"));
    assert.equal(again, waiting, "no further along: nothing changes");
    const failed = applyEvent(waiting, job(id, "shard x", "failure", "2024-05-01T10:06:00Z"));
    assert.equal(failed.jobs.find((j) => j.id === id)?.status, "failure", "listed again");
    assert.equal(runDetail(failed, 3).omittedJobs, left.length - 1, "and no longer counted as left out");
    // a GitLab pipeline known only by its jobs finishes once every job, left out or not, has
    const finished = queued.reduce(
      (run, e) => applyEvent(run, job(e.data.job!.id, e.data.job!.name, "success", "2024-05-01T10:07:00Z")),
      failed,
    );
    assert.equal(summarize(finished, 4).phase, "finished");
    assert.equal(summarize(fit(finished, 20_000), 5).status, "success");
  });
});
