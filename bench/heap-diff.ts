/**
 * Compares two V8 heap snapshots of one process (.heapsnapshot, as bench/soak.ts --snapshot
 * writes them). First, per node type and constructor or function name, how many objects and
 * bytes (self size) the second holds more than the first, largest growth first (strings
 * grouped by type); with a run count, per run too. Then the containers (Map, Set, Array,
 * Object) holding the most entries in the second snapshot, with their entries in the first
 * (V8 keeps an object's id from one snapshot to the next) and the path that retains them:
 * what grows with runs shows up there.
 *
 *   node --import tsx bench/heap-diff.ts first.heapsnapshot last.heapsnapshot [runs between] [lines=30]
 */
import { readFileSync } from "node:fs";

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

interface Container {
  readonly entries: number;
  readonly path: string;
}

interface Figures {
  readonly byKind: Map<string, { count: number; size: number }>;
  /** by node id: containers of at least 500 entries */
  readonly containers: Map<number, Container>;
}

const CONTAINERS = new Set(["object Map", "object Set", "object Array", "object Object"]);
const STRINGS = new Set(["string", "concatenated string", "sliced string"]);

function figures(path: string): Figures {
  const heap = JSON.parse(readFileSync(path, "utf8")) as Snapshot;
  const { meta } = heap.snapshot;
  const { nodes, edges, strings } = heap;
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ["type", "name", "id", "self_size", "edge_count"].map(
    (field) => meta.node_fields.indexOf(field),
  ) as [number, number, number, number, number];
  const [edgeTypeAt, edgeNameAt, toAt] = ["type", "name_or_index", "to_node"].map((field) =>
    meta.edge_fields.indexOf(field),
  ) as [number, number, number];
  const count = nodes.length / width;
  const at = (node: number, field: number): number => nodes[node * width + field] ?? 0;
  const label = (node: number): string => {
    const type = meta.node_types[0][at(node, typeAt)] ?? "?";
    return STRINGS.has(type) ? type : `${type} ${(strings[at(node, nameAt)] ?? "?").slice(0, 60)}`;
  };
  const firstEdge = new Int32Array(count + 1);
  for (let node = 0, edge = 0; node < count; node++) {
    firstEdge[node] = edge;
    edge += at(node, edgeCountAt);
  }
  firstEdge[count] = edges.length / edgeWidth;
  const edgeName = (edge: number): string => {
    const type = meta.edge_types[0][edges[edge * edgeWidth + edgeTypeAt] ?? 0];
    const name = edges[edge * edgeWidth + edgeNameAt] ?? 0;
    return type === "element" || type === "hidden" ? `[${type}]` : String(strings[name] ?? name);
  };
  const target = (edge: number): number => (edges[edge * edgeWidth + toAt] ?? 0) / width;
  // one strong retainer per node, enough to name where a container hangs
  const retainer = new Int32Array(count).fill(-1);
  const retainerEdge = new Int32Array(count);
  for (let node = 0; node < count; node++) {
    if (label(node).startsWith("synthetic")) continue;
    for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge++) {
      if (meta.edge_types[0][edges[edge * edgeWidth + edgeTypeAt] ?? 0] === "weak") continue;
      const to = target(edge);
      if (retainer[to] === -1) {
        retainer[to] = node;
        retainerEdge[to] = edge;
      }
    }
  }
  const edgesOf = (node: number): number => (firstEdge[node + 1] ?? 0) - (firstEdge[node] ?? 0);

  const byKind: Figures["byKind"] = new Map();
  const containers: Figures["containers"] = new Map();
  for (let node = 0; node < count; node++) {
    const key = label(node);
    const entry = byKind.get(key) ?? { count: 0, size: 0 };
    entry.count += 1;
    entry.size += at(node, sizeAt);
    byKind.set(key, entry);
    if (!CONTAINERS.has(key)) continue;
    // a Map's or Set's entries are in its table, an array's in its elements
    let entries = edgesOf(node);
    for (let edge = firstEdge[node] ?? 0; edge < (firstEdge[node + 1] ?? 0); edge++) {
      const name = edgeName(edge);
      if (name === "table" || name === "elements" || name === "properties")
        entries = Math.max(entries, edgesOf(target(edge)));
    }
    if (entries < 500) continue;
    let path = "";
    for (let up = node, depth = 0; depth < 5 && retainer[up] !== -1; depth++) {
      path += ` <-${edgeName(retainerEdge[up] ?? 0)}- ${label(retainer[up] ?? 0)}`;
      up = retainer[up] ?? 0;
    }
    containers.set(at(node, idAt), { entries, path: `${key}${path}` });
  }
  return { byKind, containers };
}

const [firstPath, lastPath, runsArg, linesArg] = process.argv.slice(2);
if (!firstPath || !lastPath) {
  console.error("usage: bench/heap-diff.ts first.heapsnapshot last.heapsnapshot [runs between] [lines]");
  process.exit(2);
}
const runs = Number(runsArg ?? 0);
const lines = Number(linesArg ?? 30);
const first = figures(firstPath);
const last = figures(lastPath);
const rows = [...last.byKind].map(([key, { count, size }]) => {
  const before = first.byKind.get(key) ?? { count: 0, size: 0 };
  return { key, count: count - before.count, size: size - before.size };
});
rows.sort((a, b) => b.size - a.size);
const sum = rows.reduce((total, row) => total + row.size, 0);
console.log(
  `growth ${(sum / 1e6).toFixed(1)} MB${runs ? `, ${(sum / runs / 1e3).toFixed(2)} kB per run` : ""}`,
);
for (const row of rows.slice(0, lines)) {
  const perRun = runs ? ` ${(row.count / runs).toFixed(2)}/run ${(row.size / runs).toFixed(0)} B/run` : "";
  console.log(
    `${String(row.count).padStart(9)} ${(row.size / 1e3).toFixed(0).padStart(8)} kB${perRun}  ${row.key}`,
  );
}
console.log(
  "\nlargest containers (edges of their table or elements), first → last snapshot, and what retains them",
);
const biggest = [...last.containers].sort(([, a], [, b]) => b.entries - a.entries).slice(0, lines);
for (const [id, { entries, path }] of biggest) {
  const before = first.containers.get(id)?.entries ?? "<500";
  console.log(`${String(before).padStart(7)} → ${String(entries).padStart(7)}  ${path.slice(0, 300)}`);
}
