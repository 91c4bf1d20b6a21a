import type { KV } from "@nats-io/kv";
import { groupBy, settleAll } from "../bus/batch.ts";
import { EntryCache } from "../bus/kv-cache.ts";
import type { Route } from "../config/schema.ts";
import { runKey } from "../events/ids.ts";
import type { BuildEvent } from "../events/schema.ts";
import { entityOf, outcomeOf } from "./entity.ts";
import { countInEnvironment, followEnvironment, readEnvironmentLane } from "./environment-lane.ts";
import { isLater, withLaterLast } from "./lane-merge.ts";
import { casUpdate, readJson } from "./kv-state.ts";
import { laneKvKey, legacyLaneKvKey, legacyRecordKvKey, recordKvKey, type ChannelName } from "./keys.ts";
import { applyToRecord, type EntityRecord, type RecordChange } from "./record.ts";
import { matchRoutes, trackedKinds } from "./routes.ts";
import { decideTransition, type Decision, type LaneState } from "./transitions.ts";

/** A record the events changed (or, on a retry, touched), with the newest event's trace context. */
export interface TrackedRecord {
  readonly record: EntityRecord;
  /** the record learnt something new from these events */
  readonly changed: boolean;
  readonly traceparent: string | undefined;
}

/** The transition one event decided in its lane. */
export interface TrackedDecision {
  readonly event: BuildEvent;
  readonly entityKey: string;
  readonly decision: Decision;
  /** routes of this channel that want the decided transition */
  readonly routes: readonly Route[];
}

export interface Tracked {
  readonly records: readonly TrackedRecord[];
  readonly decisions: readonly TrackedDecision[];
}

export interface TrackOptions {
  /** the delivery targets a record gets from the routes that matched it */
  readonly targetsOf?: (routes: readonly Route[]) => RecordChange["targets"];
  /**
   * The lanes and records this channel's consumer last wrote, so a batch need not read them
   * again first (a lane remembers 50 runs: ~15 KB of JSON). One pair per consumer.
   */
  readonly caches?: TrackCaches;
}

export interface TrackCaches {
  readonly lanes: EntryCache<LaneState>;
  readonly records: EntryCache<EntityRecord>;
}

/**
 * Lanes (one per branch and pipeline) and records kept parsed by one channel's consumer: a
 * lane is up to ~15 KB of JSON, a record a few KB (more with hundreds of jobs).
 */
export function trackCaches(): TrackCaches {
  return {
    lanes: new EntryCache({ entries: 500, bytes: 4 * 1024 * 1024 }),
    records: new EntryCache({ entries: 1000, bytes: 4 * 1024 * 1024 }),
  };
}

/**
 * A job allowed to fail (GitLab `allow_failure`) that fails is a warning: its pipeline passes
 * ("passed with warnings"). It decides nothing in its lane, so a job route does not announce
 * it as failed on every run; it still joins its run's job list.
 */
function isAllowedFailure(data: BuildEvent["data"]): boolean {
  return data.kind === "job" && data.job?.allowFailure === true && outcomeOf(data.status) === "failure";
}

/**
 * GitHub marks a deployment `inactive` when it is taken down: a newer deployment replaced it,
 * a preview's pull request closed. It neither succeeded nor failed now, so it decides nothing
 * in its lane: a failed preview taken down is not `fixed`. Nor does its record take the state
 * (`neutral`): the deployment's message would turn green under its "Failed" headline.
 */
function isDeactivation(data: BuildEvent["data"]): boolean {
  return data.kind === "deployment" && data.provider === "github" && data.providerStatus === "inactive";
}

const NO_DECISION: Decision = { transition: null, noticeId: null, threadRootId: null, fresh: false };

/** A lane this lane's events were decided in before, by an earlier release. */
interface LegacyLane {
  readonly key: string;
  readonly lane: LaneState | null;
  /** its runs are counted with this lane's (deployment ids), so their numbers order them */
  readonly numbered: boolean;
}

/**
 * The lane a GitHub workflow's events were decided in before lanes followed workflows by id,
 * or a deployment of a tag before deployments of tags were followed by environment: replicas
 * of that release (during a rollout, or after a rollback) still decide there.
 *
 * Two workflow files may share a `name:`, and so the name's lane, where each one's lane
 * tells the runs it counts (for the replicas of that release): a run another workflow's lane
 * counted there is not this workflow's latest, so the lane is read without it.
 *
 * Else, a lane whose key hashes a name too long to spell out: releases before that kept it
 * (and their replicas still keep it, during a rollout or after a rollback) under the name.
 */
async function readLegacyLane(
  kv: KV,
  channel: ChannelName,
  laneId: string,
  events: readonly BuildEvent[],
): Promise<LegacyLane | null> {
  const event = events.find((candidate) => entityOf(candidate.data).legacyLaneId !== undefined);
  const entity = event && entityOf(event.data);
  const legacyLaneId = entity?.legacyLaneId;
  if (event === undefined || legacyLaneId === undefined) {
    const spelled = legacyLaneKvKey(channel, laneId);
    if (spelled === null) return null;
    // the same lane: its runs' numbers order them as this one's do
    return { key: spelled, lane: (await readJson<LaneState>(kv, spelled))?.value ?? null, numbered: true };
  }
  const key = laneKvKey(channel, legacyLaneId);
  const numbered = event.data.kind === "deployment";
  const lane = (await readJson<LaneState>(kv, key))?.value ?? null;
  const counted =
    lane?.last && entity?.workflow !== undefined ? await workflowCounted(kv, channel, lane.last) : undefined;
  const othersRun = counted !== undefined && counted !== entity?.workflow;
  return { key, lane: lane && othersRun ? { ...lane, last: null, failingSince: null } : lane, numbered };
}

/**
 * The workflow whose run a name's lane counted last; undefined for a run of no workflow id, or
 * one counted by a release that followed workflows by name, which are every workflow's of that
 * name. The release before this one followed workflows by id but did not say so in the name's
 * lane (where its replicas write each workflow's latest run, during a rollout or after a
 * rollback): such a run's record tells its workflow.
 */
async function workflowCounted(
  kv: KV,
  channel: ChannelName,
  last: NonNullable<LaneState["last"]>,
): Promise<string | undefined> {
  if (last.workflow !== undefined) return last.workflow;
  const record = await readJson<EntityRecord>(kv, recordKvKey(channel, last.key));
  return record?.value.data?.run.workflowId ?? undefined;
}

/** Decides each event's transition in its lane, one compare-and-set per lane for the whole batch. */
async function decideAll(
  kv: KV,
  channel: ChannelName,
  events: readonly BuildEvent[],
  cache: EntryCache<LaneState> | undefined,
): Promise<Map<BuildEvent, Decision>> {
  const decisions = new Map<BuildEvent, Decision>();
  // one compare-and-set per lane, all lanes side by side (distinct keys); the lanes of one
  // environment's deployments tell each other what they counted, so they take turns
  const decideLane = async ([laneId, laneEvents]: readonly [
    string,
    readonly BuildEvent[],
  ]): Promise<void> => {
    const legacy = await readLegacyLane(kv, channel, laneId, laneEvents);
    const environment = await readEnvironmentLane(kv, channel, laneId, laneEvents);
    const decided = await casUpdate<LaneState, { decisions: Decision[]; lane: LaneState | null }>(
      kv,
      laneKvKey(channel, laneId),
      (current) => {
        let lane = withLaterLast(current, legacy?.lane ?? null, legacy?.numbered);
        // the environment's own lane is seeded from its tags' lanes of an earlier release
        if (current === null && environment?.key === laneKvKey(channel, laneId))
          lane = withLaterLast(lane, environment.lane, true);
        // a branch's deployment follows a tag or commit deployed to its environment after it
        if (environment && environment.key !== laneKvKey(channel, laneId))
          lane = followEnvironment(lane, environment.lane);
        let changed = lane !== current;
        const result = laneEvents.map((event) => {
          const step = decideTransition(lane, entityOf(event.data), event.data.phase, event.data.status);
          lane = step.lane;
          changed ||= step.changed;
          return step.decision;
        });
        return { next: changed ? lane : null, result: { decisions: result, lane } };
      },
      { cache },
    );
    laneEvents.forEach((event, i) => decisions.set(event, decided.decisions[i] ?? NO_DECISION));
    // the deployments of tags and commits that come next follow the branch's latest here
    if (environment && environment.key !== laneKvKey(channel, laneId))
      await countInEnvironment(kv, environment, decided.lane, laneEvents[0]?.data.ref.name ?? "", cache);
    // an old replica deciding in the legacy lane learns of the runs counted here
    const counted = decided.lane?.last;
    if (legacy?.lane && counted && isLater(counted, legacy.lane.last)) {
      await casUpdate<LaneState, null>(kv, legacy.key, (current) => {
        const next = current && withLaterLast(current, decided.lane, legacy.numbered);
        return { next: next === current ? null : next, result: null };
      });
    }
  };
  await settleAll(
    groupBy(events, (event) => {
      const entity = entityOf(event.data);
      return entity.environmentLaneId ?? entity.laneId;
    }),
    async ([, group]) => {
      for (const run of consecutiveLanes(group)) await decideLane(run);
    },
  );
  return decisions;
}

/** Events in runs of one lane each, in their order: [a, a, b, a] → [a, a], [b], [a]. */
function consecutiveLanes(events: readonly BuildEvent[]): [string, BuildEvent[]][] {
  const runs: [string, BuildEvent[]][] = [];
  for (const event of events) {
    const laneId = entityOf(event.data).laneId;
    const last = runs.at(-1);
    if (last?.[0] === laneId) last[1].push(event);
    else runs.push([laneId, [event]]);
  }
  return runs;
}

interface PendingChange {
  readonly key: string;
  readonly change: RecordChange;
  readonly event: BuildEvent;
}

/**
 * Feeds events into a channel's KV state as if one by one, with one compare-and-set per
 * lane and per record: each lane decides its events' transitions in order, then each
 * entity's record learns the states, notices and targets `targetsOf` derives from the
 * matched routes; a job event also updates its run's job list. Lanes are written first so
 * a crash in between is repaired by the redelivery, which replays the decisions.
 */
export async function trackEvents(
  kv: KV,
  channel: ChannelName,
  routes: readonly Route[],
  events: readonly BuildEvent[],
  { targetsOf = () => undefined, caches }: TrackOptions = {},
): Promise<Tracked> {
  const kinds = trackedKinds(routes, channel);
  const decided = await decideAll(
    kv,
    channel,
    events.filter(
      ({ data }) =>
        (data.kind === "pipeline" || kinds.has(data.kind)) &&
        !isAllowedFailure(data) &&
        !isDeactivation(data),
    ),
    caches?.lanes,
  );
  const changes: PendingChange[] = [];
  const decisions: TrackedDecision[] = [];
  for (const event of events) {
    const { data } = event;
    if (data.kind !== "pipeline") {
      changes.push({ key: runKey(data), change: data.kind === "job" ? { job: data } : {}, event });
    }
    const found = decided.get(event);
    if (found === undefined) continue;
    const decision = found.transition === null ? NO_DECISION : found;
    const matched =
      decision.transition === null
        ? []
        : matchRoutes(routes, data, decision.transition).filter((route) => route[channel] !== undefined);
    const targets = targetsOf(matched);
    const entity = entityOf(data);
    const notice =
      decision.transition !== null && decision.noticeId !== null
        ? {
            transition: decision.transition,
            attempt: data.run.attempt,
            noticeId: decision.noticeId,
            at: entity.updatedMs,
          }
        : undefined;
    const key = entity.key;
    changes.push({
      key,
      change: { data, ...(notice ? { notice } : {}), ...(targets ? { targets } : {}) },
      event,
    });
    decisions.push({ event, entityKey: key, decision, routes: matched });
  }

  // one compare-and-set per record, all records side by side (distinct keys), kept in order
  const records = await settleAll(
    groupBy(changes, (change) => change.key),
    async ([key, keyChanges]) => {
      // a record whose key hashes a name starts from the one an earlier release kept under it
      const legacyKey = legacyRecordKvKey(channel, key);
      const legacy =
        legacyKey === null ? null : ((await readJson<EntityRecord>(kv, legacyKey))?.value ?? null);
      const result = await casUpdate<EntityRecord, { record: EntityRecord; changed: boolean }>(
        kv,
        recordKvKey(channel, key),
        (current) => {
          let folded = { record: current ?? legacy, changed: current === null && legacy !== null };
          for (const { change } of keyChanges) {
            const step = applyToRecord(folded.record, key, change);
            folded = { record: step.record, changed: folded.changed || step.changed };
          }
          const record = folded.record ?? applyToRecord(null, key, {}).record;
          return { next: folded.changed ? record : null, result: { record, changed: folded.changed } };
        },
        { cache: caches?.records },
      );
      const record: TrackedRecord = { ...result, traceparent: keyChanges.at(-1)?.event.traceparent };
      return record;
    },
  );
  return { records, decisions };
}
