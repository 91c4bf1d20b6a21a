/**
 * Memory of the status view per branch. For each N, on a private nats-server: writes N
 * branches' runs through the status store (applyEventsToStore, as the status-store consumer
 * does, with the view running beside it and sharing its caches, as in a `role: all` or
 * `workers` replica), then starts a second view on the filled bucket (a replica starting, or
 * an `ingress` replica: every list read from KV and parsed). Reports heap used after a forced
 * GC, per branch list and per run, for both, and how long the second view took to load.
 *
 *   NODE_ENV=production node --expose-gc --import tsx bench/view-memory.ts [branches=1000,10000,50000] [runs per branch=3]
 *
 * (NODE_ENV=production as in the image: elsewhere the store's cache deep-freezes what it keeps.)
 *
 * The branches are feature branches of 20 repositories (a monorepo's branches share one),
 * one pipeline each; a third of the runs fail with one failed job. `--snapshot` also writes a
 * heap snapshot of each view (for the largest N) to the temporary directory.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { Kvm, type KV } from "@nats-io/kv";
import { connectBus } from "../src/bus/connect.ts";
import { EntryCache } from "../src/bus/kv-cache.ts";
import { parseBuildEvent } from "../src/events/build-event.ts";
import type { BuildEvent } from "../src/events/schema.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { BranchState, RunState } from "../src/status/model.ts";
import { applyEventsToStore, type StoreOptions } from "../src/status/store.ts";
import { startView, type RunningView } from "../src/status/view.ts";
import { buildEvent } from "../test/helpers/events.ts";
import { startNats } from "../test/helpers/servers.ts";

type StoreCaches = NonNullable<StoreOptions["caches"]>;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("run with NODE_ENV=production node --expose-gc --import tsx bench/view-memory.ts");
  process.exit(2);
}
const args = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
const snapshot = process.argv.includes("--snapshot");
const sizes = (args[0] ?? "1000,10000,50000").split(",").map(Number);
const runsPerBranch = Number(args[1] ?? 3);
const REPOSITORIES = 20;
const BATCH = 200;
const logger = createLogger({ level: "warn", secrets: [] });

const heapUsed = (): number => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

const TITLES = [
  "Fix race in the payment retry worker when the queue is drained (#4821)",
  "Bump eslint from 9.14.0 to 9.15.0",
  "Add pagination to the invoices endpoint",
  "Refactor feature flags into their own module; no behaviour change",
];

/** Run r of branch b: a finished pipeline, a third of them failed by one of their jobs. */
function runEvents(b: number, r: number): BuildEvent[] {
  const repository = `acme-corp/monorepo-${b % REPOSITORIES}`;
  const branch = `feature/PROJ-${10_000 + b}-short-lived-change`;
  const runId = String(9_000_000_000 + b * 100 + r);
  // every run its own times and commit title, as in life
  const start = Date.parse("2026-09-01T00:00:00Z") + b * 3_600_000 + r * 600_000;
  const time = (seconds: number): string =>
    new Date(start + seconds * 1000).toISOString().replace(".000Z", "Z");
  const failed = (b + r) % 3 === 0;
  const common = {
    repository,
    repositoryId: String(700_000_000 + (b % REPOSITORIES)),
    branch,
    pipeline: "CI",
    runId,
    runNumber: 1000 + r,
    title: `${TITLES[(b + r) % TITLES.length] ?? ""} (#${b * 10 + r})`,
    author: `Developer ${b % 97}`,
    createdAt: time(0),
    startedAt: time(5),
  } as const;
  const at = time(50);
  const job = buildEvent({
    ...common,
    status: failed ? "failure" : "success",
    job: { id: String(Number(runId) * 10), name: "test (ubuntu-latest, node 20)" },
    at,
  });
  const pipeline = buildEvent({ ...common, status: failed ? "failure" : "success", at, durationMs: 45_000 });
  // as the consumer has them: parsed from the message and validated
  return [job, pipeline].map((event) => parseBuildEvent(JSON.parse(JSON.stringify(event))));
}

/** Writes branches [from, to) through the store, as the status-store consumer does. */
async function fill(kv: KV, from: number, to: number, caches: StoreCaches): Promise<void> {
  for (let first = from; first < to; first += BATCH) {
    const events: BuildEvent[] = [];
    for (let b = first; b < Math.min(to, first + BATCH); b++) {
      for (let r = 0; r < runsPerBranch; r++) events.push(...runEvents(b, r));
    }
    await applyEventsToStore({ kv, runsPerBranch: 50, caches }, events);
  }
}

interface Figures {
  readonly branches: number;
  readonly runs: number;
  readonly liveBytes: number;
  readonly loadedBytes: number;
  readonly loadMs: number;
  readonly jsonBytes: number;
}

async function measure(branches: number): Promise<Figures> {
  const nats = await startNats();
  const bus = await connectBus(nats.url, logger);
  try {
    // the same code on a bucket of its own first, so that the baseline holds what compiling it
    // and the first allocations cost, not just the view
    const warmup = await new Kvm(bus.nc).create("WARMUP", { history: 1 });
    const warmView = await startView(warmup, logger, { cache: new EntryCache<BranchState>() });
    await fill(warmup, 0, BATCH, {
      branches: new EntryCache<BranchState>(),
      runs: new EntryCache<RunState>({ entries: 1000, bytes: 4 * 1024 * 1024 }),
    });
    await warmView.stop();
    const kv = await new Kvm(bus.nc).create("BUILD_STATUS", { history: 1 });
    const base = heapUsed();
    // as the status service wires them (src/status/index.ts)
    const caches = {
      branches: new EntryCache<BranchState>(),
      runs: new EntryCache<RunState>({ entries: 1000, bytes: 4 * 1024 * 1024 }),
    };
    let view: RunningView | null = await startView(kv, logger, { cache: caches.branches });
    await fill(kv, 0, branches, caches);
    while (view.size() < branches) await new Promise((resolve) => setTimeout(resolve, 50));
    // the run records' cache is bounded (1,000 runs, 4 MB) and not the view's: leave it out
    caches.runs.clear();
    const liveBytes = heapUsed() - base;
    if (snapshot && branches === Math.max(...sizes)) {
      console.error(
        `heap snapshot: ${writeHeapSnapshot(join(tmpdir(), `view-live-${branches}.heapsnapshot`))}`,
      );
    }
    await view.stop();
    view = null;
    caches.branches.clear();

    const before = heapUsed();
    const started = performance.now();
    // waits for every list (a replica serves what arrived after 10 s: see the load time)
    const loaded = await startView(kv, logger, {
      cache: new EntryCache<BranchState>(),
      readyTimeoutMs: 600_000,
    });
    const loadMs = performance.now() - started;
    if (loaded.size() !== branches) throw new Error(`view loaded ${loaded.size()} of ${branches} lists`);
    const loadedBytes = heapUsed() - before;
    if (snapshot && branches === Math.max(...sizes)) {
      console.error(
        `heap snapshot: ${writeHeapSnapshot(join(tmpdir(), `view-loaded-${branches}.heapsnapshot`))}`,
      );
    }
    let jsonBytes = 0;
    for (const state of loaded.states()) jsonBytes += Buffer.byteLength(JSON.stringify(state));
    await loaded.stop();
    return { branches, runs: branches * runsPerBranch, liveBytes, loadedBytes, loadMs, jsonBytes };
  } finally {
    await bus.close();
    await nats.dispose();
  }
}

const kb = (bytes: number): string => (bytes / 1000).toFixed(2);
console.log(`${runsPerBranch} runs per branch; heap used after a forced GC (MB = 10^6 bytes, kB = 10^3)`);
console.log(
  `| branches | runs | live view, MB | per branch, kB | per run, kB | loaded view, MB | per branch, kB | per run, kB | load time, s | JSON per branch, kB |`,
);
console.log(`| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |`);
for (const n of sizes) {
  const f = await measure(n);
  console.log(
    `| ${f.branches} | ${f.runs} | ${(f.liveBytes / 1e6).toFixed(1)} | ${kb(f.liveBytes / n)} | ${kb(f.liveBytes / f.runs)} | ${(f.loadedBytes / 1e6).toFixed(1)} | ${kb(f.loadedBytes / n)} | ${kb(f.loadedBytes / f.runs)} | ${(f.loadMs / 1000).toFixed(2)} | ${kb(f.jsonBytes / n)} |`,
  );
}
