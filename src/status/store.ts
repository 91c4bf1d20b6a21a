import type { KV } from "@nats-io/kv";
import type { BuildEvent } from "../events/schema.ts";
import { groupBy, settleAll } from "../bus/batch.ts";
import { compareAndSet } from "../bus/kv-cas.ts";
import type { EntryCache } from "../bus/kv-cache.ts";
import { branchStoreKey, runStoreKey } from "./keys.ts";
import { applyEvent } from "./merge.ts";
import type { BranchState, RunState } from "./model.ts";
import { branchOf, mergeBranch, summarize } from "./summary.ts";

export interface StoreOptions {
  readonly kv: KV;
  /** runs kept per (provider, repository, branch, pipeline) */
  readonly runsPerBranch: number;
  /** what this process last wrote or watched, so compare-and-set need not read it first */
  readonly caches?: { readonly runs: EntryCache<RunState>; readonly branches: EntryCache<BranchState> };
}

export interface ApplyResult {
  readonly runKey: string;
  readonly runRevision: number;
  readonly branchKey: string | null;
  readonly changed: boolean;
}

const branchKeyOf = (run: RunState | null): string | null => {
  if (run === null) return null;
  const branch = branchOf(run);
  return branch === null
    ? null
    : branchStoreKey(run.provider, run.context.repository.fullName, branch, run.context.name);
};

function withoutRun(current: BranchState | null, run: RunState, revision: number): BranchState | null {
  if (current === null) return null;
  const runs = current.runs.filter(
    (r) => !(r.runId === run.runId && r.repositoryId === run.context.repository.id && r.revision < revision),
  );
  return runs.length === current.runs.length ? current : { ...current, runs };
}

/**
 * Applies build events: for each run, first the run record with all its events folded in,
 * then the branch list it belongs to, each by one compare-and-set. `applyEvent` is a join, so
 * folding a batch stores what applying its events one by one would. Both writes are
 * idempotent, so a redelivery after a crash between them completes the second one and
 * changes nothing else. Resolves only after the writes committed.
 */
export async function applyEventsToStore(
  options: StoreOptions,
  events: readonly BuildEvent[],
): Promise<ApplyResult[]> {
  const byRun = groupBy(events, ({ data }) => runStoreKey(data.provider, data.repository.id, data.run.id));
  // Runs of different branches touch different keys: apply them side by side, so a batch
  // costs a few NATS round trips instead of five per run one after the other (the store was
  // latency-bound, not CPU-bound). Runs that name the same branch go one after the other,
  // so they do not race for its list; a race that still happens (a run moving branches) is
  // settled by compare-and-set, as between replicas.
  const chains = groupBy(byRun, ([, [first]]) => {
    const data = (first as BuildEvent).data;
    return `${data.provider}\u0000${data.repository.id}\u0000${data.ref.name ?? ""}`;
  });
  const applied = new Map<string, ApplyResult>();
  await settleAll(chains.values(), async (chain) => {
    for (const [runKey, runEvents] of chain) applied.set(runKey, await applyRun(options, runKey, runEvents));
  });
  return [...byRun.keys()].map((runKey) => applied.get(runKey) as ApplyResult);
}

/** Applies one build event (see applyEventsToStore). */
export async function applyToStore(options: StoreOptions, event: BuildEvent): Promise<ApplyResult> {
  const { data } = event;
  return applyRun(options, runStoreKey(data.provider, data.repository.id, data.run.id), [event]);
}

async function applyRun(
  options: StoreOptions,
  runKey: string,
  events: readonly BuildEvent[],
): Promise<ApplyResult> {
  const { kv } = options;
  const runs = { cache: options.caches?.runs };
  const branches = { cache: options.caches?.branches };
  const runWrite = await compareAndSet<RunState>(
    kv,
    runKey,
    (current) => events.reduce<RunState | null>(applyEvent, current),
    runs,
  );
  const run = runWrite.value;
  if (run === null) throw new Error(`run record ${runKey} vanished while applying ${events.length} events`);

  const target = branchKeyOf(run);
  const before = branchKeyOf(runWrite.previous);
  // a run first seen through a job event may be renamed by its pipeline event: move it
  if (before !== null && before !== target) {
    await compareAndSet<BranchState>(
      kv,
      before,
      (current) => withoutRun(current, run, runWrite.revision),
      branches,
    );
  }
  let changed = runWrite.written;
  if (target !== null) {
    const branch = branchOf(run) ?? "";
    const summary = summarize(run, runWrite.revision);
    const branchWrite = await compareAndSet<BranchState>(
      kv,
      target,
      (current) => mergeBranch(current, run, summary, branch, options.runsPerBranch),
      branches,
    );
    changed ||= branchWrite.written;
    // a concurrent writer may have moved the run elsewhere after we read it; undo our entry then
    const latest = await kv.get(runKey);
    if (latest && latest.revision > runWrite.revision && latest.operation === "PUT") {
      const moved = branchKeyOf(latest.json<RunState>());
      if (moved !== target) {
        await compareAndSet<BranchState>(
          kv,
          target,
          (current) => withoutRun(current, run, latest.revision),
          branches,
        );
      }
    }
  }
  return { runKey, runRevision: runWrite.revision, branchKey: target, changed };
}
