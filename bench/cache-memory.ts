/**
 * Memory of the bounded caches a `workers` or `role: all` replica keeps beside the status
 * view, filled past their bounds through the code that fills them in the gateway: the status
 * store's run records (applyEventsToStore) and, per notice channel, the lanes and notice
 * records its consumer last wrote (trackEvents, a Slack route for everything). Each run has
 * `jobs` job events (a third of them failed) and its pipeline's; runs are spread over
 * `branches` branches (a lane holds a branch's last 50 runs). Reports, per cache, the entries and stored JSON bytes it holds and the heap they
 * take (heap used after a forced GC, before and after the cache is cleared).
 *
 *   NODE_ENV=production node --expose-gc --import tsx bench/cache-memory.ts [jobs per run=50] [runs=800] [branches=100]
 */
import { Kvm, type KV } from "@nats-io/kv";
import { connectBus } from "../src/bus/connect.ts";
import { EntryCache } from "../src/bus/kv-cache.ts";
import { loadConfig } from "../src/config/load.ts";
import { parseBuildEvent } from "../src/events/build-event.ts";
import type { BuildEvent } from "../src/events/schema.ts";
import { trackCaches, trackEvents } from "../src/notify/track.ts";
import { createLogger } from "../src/observability/logger.ts";
import type { BranchState, RunState } from "../src/status/model.ts";
import { applyEventsToStore } from "../src/status/store.ts";
import { buildEvent } from "../test/helpers/events.ts";
import { startNats } from "../test/helpers/servers.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("run with NODE_ENV=production node --expose-gc --import tsx bench/cache-memory.ts");
  process.exit(2);
}
const jobsPerRun = Number(process.argv[2] ?? 50);
const runs = Number(process.argv[3] ?? 800);
const branches = Number(process.argv[4] ?? 100);
const RUNS_PER_BATCH = 20;

const heapUsed = (): number => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

function runEvents(r: number): BuildEvent[] {
  const common = {
    repository: `acme-corp/service-${r % 20}`,
    branch: `feature/PROJ-${r % branches}-change`,
    pipeline: "CI",
    runId: String(8_000_000_000 + r),
    runNumber: r,
    title: `Fix the retry worker when the queue is drained (#${r})`,
    author: `Developer ${r % 97}`,
  } as const;
  const at = new Date(Date.parse("2026-09-01T00:00:00Z") + r * 60_000).toISOString();
  const failed = r % 3 === 0;
  const events = Array.from({ length: jobsPerRun }, (_, j) =>
    buildEvent({
      ...common,
      status: failed && j % 3 === 0 ? "failure" : "success",
      job: { id: `${common.runId}${String(j).padStart(4, "0")}`, name: `test (shard ${j} of ${jobsPerRun})` },
      at,
    }),
  );
  events.push(buildEvent({ ...common, status: failed ? "failure" : "success", at, durationMs: 45_000 }));
  return events.map((event) => parseBuildEvent(JSON.parse(JSON.stringify(event))));
}

const routes = loadConfig({
  env: {},
  overrides: {
    routes: [
      { name: "all", on: ["failed", "still_failing", "fixed", "succeeded"], slack: { channel: "C0BENCH" } },
    ],
  },
}).config.routes;
const targetsOf = () => ({ C0BENCH: { route: "all", mentionAuthor: true, threadFailures: true } });

interface Sized {
  readonly size: number;
  readonly bytes: number;
  clear(): void;
}

/** heap the cache holds: measured by clearing it */
function measure(name: string, cache: Sized): void {
  const { size, bytes } = cache;
  const full = heapUsed();
  cache.clear();
  const held = full - heapUsed();
  console.log(
    `| ${name} | ${size} | ${(bytes / 1e6).toFixed(2)} | ${(held / 1e6).toFixed(2)} | ${(held / bytes).toFixed(2)} |`,
  );
}

const nats = await startNats();
const bus = await connectBus(nats.url, createLogger({ level: "warn", secrets: [] }));
try {
  const kvm = new Kvm(bus.nc);
  const fill = async (statusKv: KV, notifyKv: KV, count: number) => {
    const store = {
      branches: new EntryCache<BranchState>(),
      // as src/status/index.ts wires it
      runs: new EntryCache<RunState>({ entries: 1000, bytes: 4 * 1024 * 1024 }),
    };
    const notify = trackCaches();
    for (let first = 0; first < count; first += RUNS_PER_BATCH) {
      const events: BuildEvent[] = [];
      for (let r = first; r < Math.min(count, first + RUNS_PER_BATCH); r++) events.push(...runEvents(r));
      await applyEventsToStore({ kv: statusKv, runsPerBranch: 50, caches: store }, events);
      await trackEvents(notifyKv, "slack", routes, events, { targetsOf, caches: notify });
    }
    // the branch lists are the view's (bench/view-memory.ts)
    store.branches.clear();
    return { store, notify };
  };
  // compiled and warmed first, so that what is measured is what the caches hold
  await fill(
    await kvm.create("WARM_STATUS", { history: 1 }),
    await kvm.create("WARM_NOTIFY", { history: 1 }),
    40,
  );
  const { store, notify } = await fill(
    await kvm.create("BUILD_STATUS", { history: 1 }),
    await kvm.create("BUILD_NOTIFY", { history: 1 }),
    runs,
  );
  console.log(
    `${runs} runs of ${jobsPerRun} jobs on ${branches} branches; heap used after a forced GC (MB = 10^6 bytes)`,
  );
  console.log("| cache (bound) | entries | stored JSON, MB | heap, MB | heap per JSON byte |");
  console.log("| --- | --: | --: | --: | --: |");
  measure("status store: run records (1,000, 4 MiB)", store.runs);
  measure("per channel: lanes (500, 4 MiB)", notify.lanes);
  measure("per channel: notice records (1,000, 4 MiB)", notify.records);
} finally {
  await bus.close();
  await nats.dispose();
}
