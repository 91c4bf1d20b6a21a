import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderBadge } from "../../src/status/badge.ts";
import { renderPage } from "../../src/status/dashboard/page.ts";
import { renderRow } from "../../src/status/dashboard/row.ts";
import { renderTrend } from "../../src/status/dashboard/trend.ts";
import { MAX_TOKEN, branchStoreKey, decodeToken, encodeToken } from "../../src/status/keys.ts";
import { applyEvent } from "../../src/status/merge.ts";
import { dashboardRows, overallState } from "../../src/status/queries.ts";
import type { State } from "../../src/status/model.ts";
import { rowMessages } from "../../src/status/sse.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
import type { StatusView, ViewChange } from "../../src/status/view.ts";
import { buildEvent } from "../helpers/events.ts";

describe("status keys", () => {
  it("keeps every name apart and reversible, within the KV key alphabet", () => {
    const names = [
      "main",
      "feature/x",
      "feature.x",
      "feature#x",
      "feature x",
      "fëature",
      "",
      "a.b/c",
      "main ",
    ];
    const tokens = names.map(encodeToken);
    assert.equal(new Set(tokens).size, names.length);
    for (const [i, token] of tokens.entries()) {
      assert.match(token, /^[-_=a-zA-Z0-9]+$/);
      assert.equal(decodeToken(token), names[i]);
    }
    assert.match(branchStoreKey("gitlab", "a/b/c", "release/1.0", "CI"), /^[-/_=.a-zA-Z0-9]+$/);
  });

  it("stands a name too long for a NATS subject in by its hash, keeping the key under 4 KB", () => {
    const long = "ビルド と テスト ".repeat(100);
    const token = encodeToken(long);
    assert.match(token, /^=[0-9a-f]{40}$/);
    assert.notEqual(encodeToken(`${long}!`), token);
    assert.equal(decodeToken(token), null);
    // the longest name still spelled out keeps its readable, reversible token
    const longest = "a".repeat((MAX_TOKEN / 4) * 3);
    assert.equal(decodeToken(encodeToken(longest)), longest);
    assert.match(encodeToken(`${longest}aaa`), /^=/);
    const key = branchStoreKey("github", long, long, long);
    assert.ok(key.length < 200, key);
  });
});

describe("overall state", () => {
  it("follows failure, then running, then all passing", () => {
    assert.equal(overallState(["passing", "failing", "running"]), "failing");
    assert.equal(overallState(["passing", "running"]), "running");
    assert.equal(overallState(["passing", "passing"]), "passing");
    assert.equal(overallState(["passing", "canceled"]), "canceled");
    assert.equal(overallState([]), "unknown");
  });
});

describe("dashboard rendering", () => {
  it("escapes every provider value and drops non-http links", () => {
    const evil = '<script>alert("x")</script>';
    const event = buildEvent({
      repository: `acme/${evil}`,
      branch: `b${evil}`,
      pipeline: evil,
      title: evil,
      author: evil,
    });
    event.data.run.url = "javascript:alert(1)";
    const run = applyEvent(null, event);
    const branch = mergeBranch(null, run, summarize(run, 1), `b${evil}`, 5);
    const html = renderPage({ rows: dashboardRows([branch]), now: Date.now(), revision: 1, base: "/" });
    assert.ok(!html.includes("<script>alert"), "no raw script tag");
    assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert.ok(!html.includes("javascript:"), "javascript: URL dropped");
  });

  it("counts every failed job of a run that lists only some of them", () => {
    const events = Array.from({ length: 300 }, (_, i) =>
      buildEvent({
        provider: "gitlab",
        status: "failure",
        job: { id: String(1000 + i), name: `shard ${i}` },
      }),
    );
    const run = events.reduce(
      applyEvent,
      applyEvent(null, buildEvent({ provider: "gitlab", status: "failure" })),
    );
    const summary = summarize(run, 1);
    assert.equal(summary.failedJobs.length, 20, "a bounded list");
    assert.equal(summary.failedJobCount, 300);
    assert.equal(
      summarize(applyEvent(null, events[0]!), 1).failedJobCount,
      undefined,
      "absent when all are listed",
    );
    const [row] = dashboardRows([mergeBranch(null, run, summary, "main", 5)]);
    assert.ok(row);
    assert.match(renderRow(row, Date.now()), /<div class="failed">failed: .*shard 3<\/a> \+296<\/div>/);
  });

  it("says each pipeline's state in words, not only in its chip's colour", () => {
    const list = (pipeline: string, runId: string, status: "success" | "failure", sha: string) => {
      const run = applyEvent(null, buildEvent({ pipeline, runId, status, sha }));
      return mergeBranch(null, run, summarize(run, Number(runId)), "main", 5);
    };
    const head = "a".repeat(40);
    const [row] = dashboardRows([
      list("CI", "1", "failure", head),
      list("Docs", "2", "success", head),
      list("Old CI", "0", "failure", "b".repeat(40)),
    ]);
    assert.ok(row);
    // what a screen reader reads out, and what is left without colour: the chips' text
    const chips = [...renderRow(row, Date.now()).matchAll(/<li[^>]*>(.*?)<\/li>/g)].map((m) =>
      (m[1] ?? "").replace(/<[^>]+>/g, ""),
    );
    assert.deepEqual(chips, [
      "CI (failing)",
      "Docs (passing)",
      "Old CI (failing; does not decide this branch's state)",
    ]);
  });
});

describe("dashboard trend", () => {
  it("follows one pipeline, so a 30 s lint does not dwarf a 20 min build's bars", () => {
    const branchOf = (pipeline: string, runs: number, durationMs: number, first: number, shaFrom = 0) => {
      let branch = null;
      for (let i = 0; i < runs; i++) {
        const run = applyEvent(
          null,
          buildEvent({
            pipeline,
            runId: String(first + i),
            sha: `${shaFrom + i}`.repeat(40),
            durationMs,
            at: `2024-05-01T10:0${i}:00Z`,
          }),
        );
        branch = mergeBranch(branch, run, summarize(run, i + 1), "main", 20);
      }
      assert.ok(branch);
      return branch;
    };
    const build = branchOf("Build", 3, 20 * 60_000, 100);
    const lint = branchOf("Lint", 3, 30_000, 200);
    const [row] = dashboardRows([lint, build]);
    assert.deepEqual(
      row?.pipelines.map((p) => p.decides),
      [true, true],
    );
    assert.equal(row?.trend.pipeline, "Build", "the slower of two pipelines that ran as often");
    assert.deepEqual(
      row?.trend.runs.map((r) => r.runId),
      ["102", "101", "100"],
    );
    const html = renderPage({ rows: row ? [row] : [], now: Date.now(), revision: 1, base: "/" });
    const trend = /<svg class="trend"[^]*?<\/svg>/.exec(html)?.[0] ?? "";
    assert.match(
      trend,
      /aria-label="duration of the last 3 runs of Build: 3 passing; newest 20m 00s, longest 20m 00s"/,
    );
    assert.equal(trend.match(/<rect /g)?.length, 3);
    assert.ok(!trend.includes("Lint"));
    // of two deciding pipelines, the one that ran more often wins
    const busy = dashboardRows([
      branchOf("Lint", 5, 30_000, 300),
      branchOf("Build", 3, 20 * 60_000, 400, 2),
    ])[0];
    assert.ok(busy?.pipelines.every((p) => p.decides));
    assert.equal(busy?.trend.pipeline, "Lint");
    // and a deciding pipeline wins over one that no longer decides, however often it ran
    const renamed = dashboardRows([branchOf("Old CI", 9, 60_000, 500), branchOf("CI", 1, 60_000, 600, 9)])[0];
    assert.equal(renamed?.trend.pipeline, "CI");
  });
});

describe("dashboard trend on GitLab", () => {
  it("follows the branch's pipelines whatever their names, apart from scheduled ones", () => {
    const states = new Map<string, ReturnType<typeof mergeBranch>>();
    const add = (n: number, name: string, trigger: string) => {
      const event = buildEvent({
        provider: "gitlab",
        pipeline: name,
        runId: String(n),
        durationMs: 60_000,
        at: `2024-05-01T1${Math.floor(n / 6)}:${String((n % 6) * 10).padStart(2, "0")}:00Z`,
      });
      const run = applyEvent(null, {
        ...event,
        data: { ...event.data, run: { ...event.data.run, trigger } },
      });
      states.set(name, mergeBranch(states.get(name) ?? null, run, summarize(run, n + 1), "main", 20));
    };
    for (let n = 0; n < 12; n++) add(n, `commit title ${n}`, "push");
    add(12, "Nightly", "schedule");
    add(13, "commit title 13", "push");
    const [row] = dashboardRows(states.values());
    assert.equal(row?.trend.pipeline, "commit title 13");
    assert.equal(row?.trend.runs.length, 13, "every push pipeline, none of the nightlies");
    assert.ok(row?.trend.runs.every((run) => run.trigger === "push"));
    // and one chip per source, not one per commit title
    assert.ok(row);
    const chips = [...renderRow(row, Date.now()).matchAll(/class="chip[^"]*"[^>]*>([^<]*)</g)].map(
      (m) => m[1],
    );
    assert.deepEqual(chips.sort(), ["Nightly", "commit title 13"]);
    assert.equal(row.pipelines.length, 14, "the API still lists every pipeline");
  });
});

describe("live feed rows", () => {
  it("counts kept between changes agree with counts made from every row", () => {
    const states = new Map<string, ReturnType<typeof mergeBranch>>();
    const listeners: ((change: ViewChange) => void)[] = [];
    const view: StatusView = {
      states: () => states.values(),
      forRepository: () => [],
      revision: () => 0,
      changedSince: () => [],
      subscribe: (listener) => {
        listeners.push(listener);
        return () => undefined;
      },
    };
    const kept = new Map<string, State>();
    const statuses = ["success", "failure", "running"] as const;
    for (let n = 0; n < 60; n++) {
      const branch = `b${n % 7}`;
      const previous = states.get(branch) ?? null;
      const run = applyEvent(
        null,
        buildEvent({ runId: String(n), branch, status: statuses[n % 3] ?? "success" }),
      );
      const state = mergeBranch(previous, run, summarize(run, n + 1), branch, 5);
      if (n % 11 === 10) states.delete(branch);
      else states.set(branch, state);
      const change: ViewChange = {
        key: branch,
        revision: n + 1,
        state: states.get(branch) ?? null,
        previous,
      };
      const [incremental] = rowMessages(view, [change], 0, kept);
      const [fromEveryRow] = rowMessages(view, [change], 0);
      assert.equal(incremental?.counts, fromEveryRow?.counts, `after change ${n}`);
      assert.equal(incremental?.html, fromEveryRow?.html);
    }
    assert.ok(kept.size > 0);
  });
});

describe("badge", () => {
  it("escapes its label and grows with its text", () => {
    const short = renderBadge("ci", "passing");
    const long = renderBadge("a much longer pipeline name", "passing");
    const width = (svg: string) => Number(/width="(\d+)"/.exec(svg)?.[1]);
    assert.ok(width(long) > width(short) + 100);
    assert.ok(renderBadge("<&>", "failing").includes("&lt;&amp;&gt;"));
  });

  it("stays an image for any label: no character XML refuses, no emoji cut in half", () => {
    // U+FFFE and U+FFFF are not XML characters: a browser refuses the whole SVG (a broken image)
    for (const label of ["ci \uFFFE", "ci \uFFFF", `${"a".repeat(38)}🚀 release`]) {
      const svg = renderBadge(label, "passing");
      assert.doesNotMatch(svg, /\p{Surrogate}/u, `${JSON.stringify(label)}: no half of an emoji`);
      assert.doesNotMatch(svg, /[\uFFFE\uFFFF]/, `${JSON.stringify(label)}: only XML characters`);
    }
    assert.ok(renderBadge(`${"a".repeat(38)}🚀 release`, "passing").includes(`${"a".repeat(38)}🚀…`));
  });
});

describe("dashboard trend", () => {
  it("says in its name how the runs it draws ended, which its bars say only in colour", () => {
    const statuses = ["success", "failure", "success", "failure", "running"] as const;
    const runs = statuses
      .map((status, i) =>
        summarize(
          applyEvent(
            null,
            buildEvent({
              runId: String(500 + i),
              status,
              durationMs: status === "running" ? null : (i + 1) * 60_000,
            }),
          ),
          i + 1,
        ),
      )
      .reverse();
    const svg = renderTrend("CI", runs);
    const label = /aria-label="([^"]*)"/.exec(svg)?.[1] ?? "";
    assert.equal(
      label,
      "duration of the last 5 runs of CI: 2 failing, 1 running, 2 passing; newest running, longest 4m 00s",
    );
  });
});
