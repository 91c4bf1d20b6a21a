import { compareOrder } from "./entity.ts";
import type { LaneState } from "./transitions.ts";

/** Whether `a` counted a later run (or a later attempt of the same run) than `b`. */
export function isLater(a: NonNullable<LaneState["last"]>, b: LaneState["last"]): boolean {
  if (b === null) return true;
  if (a.key === b.key) return a.attempt > b.attempt;
  // the legacy lane's last run may be another workflow's of the same name, whose run numbers
  // count apart (withLaterLast leaves them out): then only creation times say which is older
  return compareOrder(a.order, b.order) > 0;
}

/**
 * A lane that takes the other lane's latest counted run when it is the later one: the legacy
 * lane seeds a new lane, and a run an old replica counted there after this lane was made
 * still decides what comes next here (no second `fixed`), and the other way round.
 */
export function withLaterLast(
  lane: LaneState | null,
  other: LaneState | null,
  numbered = false,
): LaneState | null {
  if (other === null) return lane;
  const last = other.last && {
    ...other.last,
    order: { number: numbered ? other.last.order.number : null, createdMs: other.last.order.createdMs },
  };
  if (lane === null) return { ...other, last };
  if (!last || !isLater(last, lane.last)) return lane;
  return { ...lane, last, failingSince: other.failingSince };
}
