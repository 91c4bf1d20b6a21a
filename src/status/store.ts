import type { KV } from "@nats-io/kv";
import type { BuildEvent } from "../events/schema.ts";
import { groupBy, settleAll } from "../bus/batch.ts";
import { compareAndSet, isConflict } from "../bus/kv-cas.ts";
import type { EntryCache } from "../bus/kv-cache.ts";
import { branchStoreKey, legacyBranchStoreKey, runStoreKey } from "./keys.ts";
import { applyEvent } from "./merge.ts";
import type { BranchState, RunState, RunSummary } from "./model.ts";
import { keepBranchWithinBytes, keepWithinBytes, omittedCount } from "./run-limit.ts";
import { branchOf, compareNewestFirst, mergeBranch, summarize } from "./summary.ts";

export interface StoreOptions {
  readonly kv: KV;
  /** runs kept per (provider, repository, branch, pipeline) */
  readonly runsPerBranch: number;
  /** what this process last wrote or watched, so compare-and-set need not read it first */
  readonly caches?: { readonly runs: EntryCache<RunState>; readonly branches: EntryCache<BranchState> };
  /** the largest run record or branch list to write; a larger one is cut (run-limit.ts) */
  readonly maxRunBytes?: number;
}

/** 3/4 of NATS's default max_payload: room for the message's headers and the run's next events */
export const DEFAULT_MAX_RUN_BYTES = 768 * 1024;

export interface ApplyResult {
  readonly runKey: string;
  readonly runRevision: number;
  readonly branchKey: string | null;
  readonly changed: boolean;
  /** this write first left jobs out of the run record: how many jobs it has, how many are left out */
  readonly leftOut?: { readonly jobs: number; readonly omitted: number };
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

/** A branch list an earlier release kept under a key that spelled out a name now hashed. */
interface LegacyBranch {
  readonly key: string;
  readonly revision: number;
  readonly value: BranchState;
}

async function readLegacyBranch(kv: KV, run: RunState): Promise<LegacyBranch | null> {
  const branch = branchOf(run);
  if (branch === null) return null;
  const key = legacyBranchStoreKey(run.provider, run.context.repository.fullName, branch, run.context.name);
  if (key === null) return null;
  const entry = await kv.get(key);
  if (entry === null || entry.operation !== "PUT" || entry.length === 0) return null;
  return { key, revision: entry.revision, value: entry.json<BranchState>() };
}

/** `current` with the runs of the earlier release's list it does not hold as recent; itself when none. */
function withLegacyRuns(
  current: BranchState | null,
  legacy: LegacyBranch | null,
  limit: number,
): BranchState | null {
  if (legacy === null) return current;
  const same = (a: RunSummary, b: RunSummary) => a.runId === b.runId && a.repositoryId === b.repositoryId;
  const own = current?.runs ?? [];
  const taken = legacy.value.runs.filter((r) => !own.some((o) => same(o, r) && o.revision >= r.revision));
  if (taken.length === 0) return current;
  const runs = [...own.filter((o) => !taken.some((r) => same(o, r))), ...taken]
    .sort(compareNewestFirst)
    .slice(0, limit);
  return { ...(current ?? legacy.value), runs };
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
  const maxBytes = options.maxRunBytes ?? DEFAULT_MAX_RUN_BYTES;
  const branches = { cache: options.caches?.branches };
  const runWrite = await compareAndSet<RunState>(
    kv,
    runKey,
    (current) => events.reduce<RunState | null>(applyEvent, current),
    { ...runs, fit: { maxBytes, shrink: (run, bytes) => keepWithinBytes(run, bytes, maxBytes) } },
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
    // a name too long to spell out is hashed in the key since this release: the list an
    // earlier release kept under the spelled-out key (before the upgrade, or by an older
    // replica during the rollout) is taken over, or the branch would show both lists, the
    // older one frozen at its last run
    const legacy = await readLegacyBranch(kv, run);
    const branchWrite = await compareAndSet<BranchState>(
      kv,
      target,
      (current) =>
        mergeBranch(
          withLegacyRuns(current, legacy, options.runsPerBranch),
          run,
          summary,
          branch,
          options.runsPerBranch,
        ),
      {
        ...branches,
        fit: { maxBytes, shrink: (list, bytes) => keepBranchWithinBytes(list, bytes, maxBytes) },
      },
    );
    changed ||= branchWrite.written;
    if (legacy !== null) {
      // unless an older replica wrote it meanwhile: then the next event takes that over
      await kv.delete(legacy.key, { previousSeq: legacy.revision }).catch((error: unknown) => {
        if (!isConflict(error)) throw error;
      });
    }
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
  const omitted = omittedCount(run);
  const leftOut =
    runWrite.written && omitted > 0 && runWrite.previous?.omittedJobs === undefined
      ? { jobs: run.jobs.length + (run.earlierJobs?.length ?? 0) + omitted, omitted }
      : null;
  return {
    runKey,
    runRevision: runWrite.revision,
    branchKey: target,
    changed,
    ...(leftOut ? { leftOut } : {}),
  };
}
