import type { BuildEventData, Phase, Status } from "./schema.ts";

/**
 * How far a state got, for "states only move forward": queued 0, started 1, finished 2. A run
 * waiting for a person (GitLab's `manual` at a blocking manual job, a deployment `blocked`
 * for approval) may come after it started, so it ranks with started and the later time wins:
 * a pipeline stopped at its deploy gate no longer shows as running for days.
 */
export function progressRank(phase: Phase, status: Status): number {
  if (status === "manual" || status === "action_required") return Math.max(1, PHASE_RANK[phase]);
  return PHASE_RANK[phase];
}

const PHASE_RANK: Readonly<Record<Phase, number>> = { queued: 0, started: 1, finished: 2 };

/**
 * The rank of an event's state among its run's states. A run whose newest state is its state
 * (`run.latestWins`: a GitHub commit status, where a re-run posts `pending` after `failure`)
 * ranks all its states alike, so their update times alone order them: a late-delivered older
 * state still never overrides a newer one. It ranks them as finished so that a state stored
 * before runs carried the flag (a failure, ranked finished) is still overtaken by a newer one.
 */
export function stateProgressRank(data: Pick<BuildEventData, "phase" | "status" | "run">): number {
  return data.run.latestWins === true ? PHASE_RANK.finished : progressRank(data.phase, data.status);
}
