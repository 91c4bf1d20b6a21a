import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { createMetrics } from "../../src/observability/metrics.ts";

const ROOT = join(import.meta.dirname, "../..");
const read = (path: string): string => readFileSync(join(ROOT, path), "utf8");

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: { readonly severity?: string };
  readonly annotations?: { readonly summary?: string };
}

/** The Prometheus rules docs/operations.md tells operators to install. */
function documentedRules(): Rule[] {
  const block = /```yaml\n(groups:[\s\S]*?)```/.exec(read("docs/operations.md"))?.[1];
  assert.ok(block, "docs/operations.md holds a rules block");
  const groups = (parse(block) as { groups: Array<{ rules: Rule[] }> }).groups;
  return groups.flatMap((group) => group.rules);
}

/** Name, type and label names of every metric /metrics exports. */
function exported(): Map<string, { type: string; labels: readonly string[] }> {
  const { registry } = createMetrics();
  const metrics = new Map<string, { type: string; labels: readonly string[] }>();
  for (const metric of registry.getMetricsAsArray()) {
    // prom-client keeps its label names on each metric object, not in its public type
    const labels = (metric as unknown as { labelNames?: string[] }).labelNames ?? [];
    metrics.set(metric.name, { type: String(metric.type), labels });
  }
  return metrics;
}

/** The exported metric a series name belongs to: histograms export _bucket, _sum and _count. */
function metricOf(series: string, metrics: ReturnType<typeof exported>) {
  const base = series.replace(/_(bucket|sum|count)$/, "");
  const metric = metrics.get(series) ?? (base !== series ? metrics.get(base) : undefined);
  if (metric === undefined || (base !== series && metric.type !== "histogram" && !metrics.has(series)))
    return undefined;
  return { ...metric, bucket: series.endsWith("_bucket") };
}

describe("the alert rules of docs/operations.md", () => {
  const rules = documentedRules();
  const metrics = exported();

  it("each has an expression, a severity and a summary", () => {
    assert.ok(rules.length >= 10);
    for (const rule of rules) {
      assert.ok(rule.alert && rule.expr, JSON.stringify(rule));
      assert.ok(rule.labels?.severity, `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
    }
  });

  it("read series buildcast exports, with the labels it gives them, counters only through rate() or increase()", () => {
    for (const rule of rules) {
      for (const match of rule.expr.matchAll(/\b(buildcast_[a-z_]+)(\{([^}]*)\})?(\[[^\]]+\])?/g)) {
        const [, series = "", , matchers = "", range] = match;
        const metric = metricOf(series, metrics);
        assert.ok(metric, `${rule.alert}: ${series} is not exported`);
        for (const [, label] of matchers.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
          assert.ok(metric.labels.includes(label ?? ""), `${rule.alert}: ${series} has no label ${label}`);
        }
        const counter = metric.type === "counter" || metric.type === "histogram";
        assert.equal(range !== undefined, counter, `${rule.alert}: ${series} (${metric.type}) read as such`);
      }
    }
  });

  it("group by labels the series have, and summaries name only labels the grouping keeps", () => {
    const targetLabels = ["instance", "job"];
    for (const rule of rules) {
      const groupings = [...rule.expr.matchAll(/\bby\s*\(([^)]*)\)/g)].map(([, list = ""]) =>
        list.split(",").map((label) => label.trim()),
      );
      const seriesLabels = [...rule.expr.matchAll(/\b(buildcast_[a-z_]+)/g)].flatMap(([, series = ""]) => {
        const metric = metricOf(series, metrics);
        return [...(metric?.labels ?? []), ...(metric?.bucket ? ["le"] : [])];
      });
      for (const label of groupings.flat()) {
        assert.ok(
          [...seriesLabels, ...targetLabels].includes(label),
          `${rule.alert}: grouped by ${label}, which its series lack`,
        );
      }
      const kept = groupings[0] ?? [];
      for (const [, label] of (rule.annotations?.summary ?? "").matchAll(/\$labels\.(\w+)/g)) {
        assert.ok(kept.includes(label ?? ""), `${rule.alert}: the summary names ${label}, lost by the sum`);
      }
    }
  });

  it("BuildcastDown also fires when no buildcast target is left to scrape", () => {
    // sum() over no series is no result rather than 0: with every pod gone (scaled to 0,
    // evicted and pending, the job's discovery broken) `sum(up) == 0` never fires
    const down = rules.find((rule) => rule.alert === "BuildcastDown");
    assert.ok(down);
    assert.match(down.expr, /\babsent\(up\{job="buildcast"\}\)/);
  });
});
