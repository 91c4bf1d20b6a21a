/**
 * Compares two V8 heap snapshots (.heapsnapshot, as bench/soak.ts --snapshot writes them):
 * per node type and constructor or function name, how many objects and bytes (self size)
 * the second holds more than the first, largest growth first; strings grouped by type.
 * With a run count, each line's growth per run too.
 *
 *   node --import tsx bench/heap-diff.ts first.heapsnapshot last.heapsnapshot [runs between] [lines=40]
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Totals = Map<string, { count: number; size: number }>;

function totals(path: string): Totals {
  const heap = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const byKey: Totals = new Map();
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt] ?? 0] ?? "?";
    const name = heap.strings[heap.nodes[i + nameAt] ?? 0] ?? "?";
    const key =
      type === "string" || type === "concatenated string" || type === "sliced string"
        ? type
        : `${type} ${name.slice(0, 80)}`;
    const entry = byKey.get(key) ?? { count: 0, size: 0 };
    entry.count += 1;
    entry.size += heap.nodes[i + sizeAt] ?? 0;
    byKey.set(key, entry);
  }
  return byKey;
}

const [firstPath, lastPath, runsArg, linesArg] = process.argv.slice(2);
if (!firstPath || !lastPath) {
  console.error("usage: bench/heap-diff.ts first.heapsnapshot last.heapsnapshot [runs between] [lines]");
  process.exit(2);
}
const runs = Number(runsArg ?? 0);
const first = totals(firstPath);
const last = totals(lastPath);
const rows = [...last].map(([key, { count, size }]) => {
  const before = first.get(key) ?? { count: 0, size: 0 };
  return { key, count: count - before.count, size: size - before.size, total: size };
});
rows.sort((a, b) => b.size - a.size);
const sum = rows.reduce((total, row) => total + row.size, 0);
console.log(
  `growth ${(sum / 1e6).toFixed(1)} MB${runs ? `, ${(sum / runs / 1e3).toFixed(2)} kB per run` : ""}`,
);
for (const row of rows.slice(0, Number(linesArg ?? 40))) {
  const perRun = runs ? ` ${(row.count / runs).toFixed(2)}/run ${(row.size / runs).toFixed(0)} B/run` : "";
  console.log(
    `${String(row.count).padStart(9)} ${(row.size / 1e3).toFixed(0).padStart(8)} kB${perRun}  ${row.key}`,
  );
}
