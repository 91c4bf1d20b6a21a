import type { Transition } from "../config/schema.ts";
import type { Phase, Status } from "../events/schema.ts";
import { compareOrder, outcomeOf, type Entity, type RunOrder } from "./entity.ts";
import { shortHash } from "./keys.ts";

export interface Decision {
  readonly transition: Transition | null;
  /** names this notice: the email Message-ID and job id derive from it */
  readonly noticeId: string | null;
  /** the `failed` notice that a still_failing or fixed notice threads under */
  readonly threadRootId: string | null;
  /** false when this state of this run was decided before (redelivery, duplicate, late event) */
  readonly fresh: boolean;
}

interface RecordedDecision {
  readonly transition: Transition | null;
  readonly noticeId: string | null;
  readonly threadRootId: string | null;
}

export interface RunMemory {
  readonly attempt: number;
  readonly order: RunOrder;
  readonly started: RecordedDecision | null;
  readonly finished: RecordedDecision | null;
  /** outcome and provider time of the counted finish (absent in state written before they existed) */
  readonly outcome?: "success" | "failure" | "canceled";
  readonly finishedMs?: number | null;
}

export interface LaneState {
  readonly version: 1;
  /** the latest counted success or failure; canceled runs leave it alone */
  readonly last: {
    readonly key: string;
    readonly attempt: number;
    readonly order: RunOrder;
    readonly outcome: "success" | "failure";
    /** the commit it built (absent in state written before it was kept) */
    readonly sha?: string | null;
    /** in an environment's lane, the branch of a deployment counted in that branch's lane */
    readonly branch?: string;
    /**
     * the GitHub Actions workflow whose run it was (absent when counted by a release that
     * followed workflows by name): a workflow's lane never takes another's run from the
     * name's lane they share
     */
    readonly workflow?: string;
  } | null;
  /** noticeId of the `failed` notice that opened the current failure streak */
  readonly failingSince: string | null;
  /** per-run memory so each run's start and finish are counted once */
  readonly runs: Readonly<Record<string, RunMemory>>;
}

export interface TransitionResult {
  readonly lane: LaneState;
  readonly decision: Decision;
  /** whether `lane` differs from the input (the adapter skips the KV write otherwise) */
  readonly changed: boolean;
}

export const MAX_REMEMBERED_RUNS = 50;

const EMPTY_LANE: LaneState = { version: 1, last: null, failingSince: null, runs: {} };
const NOTHING: RecordedDecision = { transition: null, noticeId: null, threadRootId: null };

const replay = (recorded: RecordedDecision | null): Decision => ({ ...(recorded ?? NOTHING), fresh: false });

function isStale(lane: LaneState, entity: Entity): boolean {
  const last = lane.last;
  if (last === null) return false;
  if (last.key === entity.key) return entity.attempt < last.attempt;
  return compareOrder(entity.order, last.order) < 0;
}

function earlierOrder(a: RunOrder, b: RunOrder): RunOrder {
  const createdMs =
    a.createdMs === null
      ? b.createdMs
      : b.createdMs === null
        ? a.createdMs
        : Math.min(a.createdMs, b.createdMs);
  return { number: b.number ?? a.number, createdMs };
}

function remember(lane: LaneState, key: string, memory: RunMemory): Record<string, RunMemory> {
  const runs: Record<string, RunMemory> = { ...lane.runs, [key]: memory };
  const keys = Object.keys(runs);
  if (keys.length <= MAX_REMEMBERED_RUNS) return runs;
  // runs older than lane.last are stale anyway, so forgetting the oldest loses nothing
  const newestFirst = keys.sort((a, b) => {
    const ma = runs[a];
    const mb = runs[b];
    return ma && mb ? compareOrder(mb.order, ma.order) || mb.attempt - ma.attempt : 0;
  });
  const keep = new Set(newestFirst.slice(0, MAX_REMEMBERED_RUNS));
  if (lane.last) keep.add(lane.last.key);
  return Object.fromEntries(Object.entries(runs).filter(([k]) => keep.has(k)));
}

function finishTransition(lane: LaneState, outcome: "success" | "failure" | "canceled"): Transition {
  const failing = lane.last?.outcome === "failure";
  if (outcome === "failure") return failing ? "still_failing" : "failed";
  if (outcome === "success") return failing ? "fixed" : "succeeded";
  return "canceled";
}

/**
 * GitLab retries a pipeline under its own id and attempt (failed → running → success), and
 * GitHub re-requests a check suite the same way. A later finish with a different outcome is
 * that re-run; the same outcome again (a manual job run late) or an earlier time (a late,
 * out-of-order delivery) is not.
 */
function isRetriedInPlace(
  memory: RunMemory,
  entity: Entity,
  outcome: "success" | "failure" | "canceled",
): boolean {
  return (
    memory.finished !== null &&
    memory.outcome !== undefined &&
    memory.outcome !== outcome &&
    memory.finishedMs !== undefined &&
    memory.finishedMs !== null &&
    entity.updatedMs !== null &&
    entity.updatedMs > memory.finishedMs
  );
}

/**
 * Another run of the commit the lane last counted, ending the same way, has nothing new to
 * announce: the push and pull_request runs of one commit (`on: [push, pull_request]`), a
 * re-run that fails again, a nightly run with no new commit. It still counts as the lane's
 * latest run, and its own message (if it has one) shows how it ended.
 */
function repeatsLastCommit(
  lane: LaneState,
  entity: Entity,
  outcome: "success" | "failure" | "canceled",
): boolean {
  const last = lane.last;
  return last !== null && entity.sha !== null && last.sha === entity.sha && last.outcome === outcome;
}

/**
 * The transition one event causes in its lane (repository, branch, pipeline), given what
 * the lane has seen. Pure and idempotent: the same event again yields the recorded decision
 * with `fresh: false` and no change, a late event of an older run or attempt yields none.
 */
export function decideTransition(
  current: LaneState | null,
  given: Entity,
  phase: Phase,
  status: Status,
): TransitionResult {
  const lane = current ?? EMPTY_LANE;
  const unchanged = (decision: Decision): TransitionResult => ({ lane, decision, changed: false });
  const memory = lane.runs[given.key];
  // a run is as old as the first of its events: each POST of a commit status is a new object
  // with its own created_at, so a slow build of an older commit would otherwise look newest
  const entity = memory ? { ...given, order: earlierOrder(memory.order, given.order) } : given;
  if (phase === "queued") return unchanged(replay(null));
  if (memory && memory.attempt > entity.attempt) return unchanged(replay(null));
  const sameAttempt = memory?.attempt === entity.attempt ? memory : undefined;

  if (phase === "started") {
    // waiting for a manual action or an approval is not running yet
    if (status !== "running") return unchanged(replay(null));
    if (sameAttempt) return unchanged(replay(sameAttempt.started ?? sameAttempt.finished));
    if (isStale(lane, entity)) return unchanged(replay(null));
    const recorded: RecordedDecision = {
      transition: "started",
      noticeId: shortHash(entity.key, String(entity.attempt), "started"),
      threadRootId: lane.failingSince,
    };
    const next = { attempt: entity.attempt, order: entity.order, started: recorded, finished: null };
    return {
      lane: { ...lane, runs: remember(lane, entity.key, next) },
      decision: { ...recorded, fresh: true },
      changed: true,
    };
  }

  const outcome = outcomeOf(status);
  if (outcome === null) return unchanged(replay(null));
  if (sameAttempt?.finished && !isRetriedInPlace(sameAttempt, entity, outcome)) {
    return unchanged(replay(sameAttempt.finished));
  }
  if (isStale(lane, entity)) {
    // remembered so a redelivery of it is recognised even after lane.last moves on
    const next = { attempt: entity.attempt, order: entity.order, started: null, finished: NOTHING };
    return {
      lane: { ...lane, runs: remember(lane, entity.key, next) },
      decision: replay(null),
      changed: true,
    };
  }

  const transition = repeatsLastCommit(lane, entity, outcome) ? null : finishTransition(lane, outcome);
  // a run retried in place finishes again under the same attempt: its time tells the notices apart
  const noticeId =
    transition === null
      ? null
      : sameAttempt?.finished
        ? shortHash(entity.key, String(entity.attempt), transition, String(entity.updatedMs))
        : shortHash(entity.key, String(entity.attempt), transition);
  const threadRootId = transition === "failed" || transition === null ? null : lane.failingSince;
  const recorded: RecordedDecision = { transition, noticeId, threadRootId };
  const next: RunMemory = {
    attempt: entity.attempt,
    order: entity.order,
    started: sameAttempt?.started ?? null,
    finished: recorded,
    outcome,
    finishedMs: entity.updatedMs,
  };
  const failingSince = transition === "failed" ? noticeId : outcome === "success" ? null : lane.failingSince;
  const last =
    outcome === "canceled"
      ? lane.last
      : {
          key: entity.key,
          attempt: entity.attempt,
          order: entity.order,
          outcome,
          sha: entity.sha,
          ...(entity.workflow === undefined ? {} : { workflow: entity.workflow }),
        };
  const updated: LaneState = { version: 1, last, failingSince, runs: lane.runs };
  return {
    lane: { ...updated, runs: remember(updated, entity.key, next) },
    decision: { ...recorded, fresh: true },
    changed: true,
  };
}
