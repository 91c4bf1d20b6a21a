import type { KV } from "@nats-io/kv";
import type { BuildEvent } from "../events/schema.ts";
import { compareAndSet } from "./cas.ts";
import { branchStoreKey, runStoreKey } from "./keys.ts";
import { applyEvent } from "./merge.ts";
import type { BranchState, RunState } from "./model.ts";
import { branchOf, mergeBranch, summarize } from "./summary.ts";

export interface StoreOptions {
  readonly kv: KV;
  /** runs kept per (provider, repository, branch, pipeline) */
  readonly runsPerBranch: number;
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
 * Applies one build event: first the run record, then the branch list it belongs to, each by
 * compare-and-set. Both writes are idempotent, so a redelivery after a crash between them
 * completes the second one and changes nothing else. Resolves only after the writes committed.
 */
export async function applyToStore(options: StoreOptions, event: BuildEvent): Promise<ApplyResult> {
  const { kv } = options;
  const { data } = event;
  const runKey = runStoreKey(data.provider, data.repository.id, data.run.id);
  const runWrite = await compareAndSet<RunState>(kv, runKey, (current) => applyEvent(current, event));
  const run = runWrite.value;
  if (run === null) throw new Error(`run record ${runKey} vanished while applying ${event.id}`);

  const target = branchKeyOf(run);
  const before = branchKeyOf(runWrite.previous);
  // a run first seen through a job event may be renamed by its pipeline event: move it
  if (before !== null && before !== target) {
    await compareAndSet<BranchState>(kv, before, (current) => withoutRun(current, run, runWrite.revision));
  }
  let changed = runWrite.written;
  if (target !== null) {
    const branch = branchOf(run) ?? "";
    const summary = summarize(run, runWrite.revision);
    const branchWrite = await compareAndSet<BranchState>(kv, target, (current) =>
      mergeBranch(current, run, summary, branch, options.runsPerBranch),
    );
    changed ||= branchWrite.written;
    // a concurrent writer may have moved the run elsewhere after we read it; undo our entry then
    const latest = await kv.get(runKey);
    if (latest && latest.revision > runWrite.revision && latest.operation === "PUT") {
      const moved = branchKeyOf(latest.json<RunState>());
      if (moved !== target) {
        await compareAndSet<BranchState>(kv, target, (current) => withoutRun(current, run, latest.revision));
      }
    }
  }
  return { runKey, runRevision: runWrite.revision, branchKey: target, changed };
}
