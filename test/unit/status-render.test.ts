import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderBadge } from "../../src/status/badge.ts";
import { renderPage } from "../../src/status/dashboard/page.ts";
import { branchStoreKey, decodeToken, encodeToken } from "../../src/status/keys.ts";
import { applyEvent } from "../../src/status/merge.ts";
import { dashboardRows, overallState } from "../../src/status/queries.ts";
import { mergeBranch, summarize } from "../../src/status/summary.ts";
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
});

describe("badge", () => {
  it("escapes its label and grows with its text", () => {
    const short = renderBadge("ci", "passing");
    const long = renderBadge("a much longer pipeline name", "passing");
    const width = (svg: string) => Number(/width="(\d+)"/.exec(svg)?.[1]);
    assert.ok(width(long) > width(short) + 100);
    assert.ok(renderBadge("<&>", "failing").includes("&lt;&amp;&gt;"));
  });
});
