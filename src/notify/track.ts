import type { KV } from "@nats-io/kv";
import type { Route } from "../config/schema.ts";
import { runKey } from "../events/ids.ts";
import type { BuildEventData } from "../events/schema.ts";
import { entityOf } from "./entity.ts";
import { casUpdate } from "./kv-state.ts";
import { laneKvKey, recordKvKey, type ChannelName } from "./keys.ts";
import { applyToRecord, type EntityRecord, type RecordChange } from "./record.ts";
import { matchRoutes, trackedKinds } from "./routes.ts";
import { decideTransition, type Decision, type LaneState } from "./transitions.ts";

export interface TrackedEntity {
  readonly record: EntityRecord;
  /** the record learnt something new from this event */
  readonly changed: boolean;
  readonly decision: Decision;
  /** routes of this channel that want the decided transition */
  readonly routes: readonly Route[];
}

const NO_DECISION: Decision = { transition: null, noticeId: null, threadRootId: null, fresh: false };

async function updateRecord(
  kv: KV,
  channel: ChannelName,
  key: string,
  change: RecordChange,
): Promise<{ record: EntityRecord; changed: boolean }> {
  return casUpdate<EntityRecord, { record: EntityRecord; changed: boolean }>(
    kv,
    recordKvKey(channel, key),
    (current) => {
      const result = applyToRecord(current, key, change);
      return { next: result.changed ? result.record : null, result };
    },
  );
}

/**
 * Feeds one event into a channel's KV state: its lane decides the transition (CAS), then
 * the entity's record learns the state, the notice and the targets `targetsOf` derives from
 * the matched routes; a job event also updates its run's job list. The lane is written
 * first so a crash in between is repaired by the redelivery, which replays the decision.
 */
export async function trackEvent(
  kv: KV,
  channel: ChannelName,
  routes: readonly Route[],
  data: BuildEventData,
  targetsOf: (routes: readonly Route[]) => RecordChange["targets"] = () => undefined,
): Promise<TrackedEntity[]> {
  const tracked: TrackedEntity[] = [];
  if (data.kind !== "pipeline") {
    const key = runKey(data);
    const result = await updateRecord(kv, channel, key, data.kind === "job" ? { job: data } : {});
    tracked.push({ ...result, decision: NO_DECISION, routes: [] });
  }
  if (data.kind !== "pipeline" && !trackedKinds(routes, channel).has(data.kind)) return tracked;

  const entity = entityOf(data);
  const decision = await casUpdate<LaneState, Decision>(kv, laneKvKey(channel, entity.laneId), (lane) => {
    const result = decideTransition(lane, entity, data.phase, data.status);
    return { next: result.changed ? result.lane : null, result: result.decision };
  });
  const matched =
    decision.transition === null
      ? []
      : matchRoutes(routes, data, decision.transition).filter((route) => route[channel] !== undefined);
  const change: RecordChange = { data };
  const targets = targetsOf(matched);
  const notice =
    decision.transition !== null && decision.noticeId !== null
      ? { transition: decision.transition, attempt: data.run.attempt, noticeId: decision.noticeId }
      : undefined;
  const result = await updateRecord(kv, channel, entity.key, {
    ...change,
    ...(notice ? { notice } : {}),
    ...(targets ? { targets } : {}),
  });
  tracked.push({
    ...result,
    decision: decision.transition === null ? NO_DECISION : decision,
    routes: matched,
  });
  return tracked;
}
