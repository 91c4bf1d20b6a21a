import type { KV } from "@nats-io/kv";
import { groupBy, settleAll } from "../bus/batch.ts";
import { EntryCache } from "../bus/kv-cache.ts";
import type { Route } from "../config/schema.ts";
import { runKey } from "../events/ids.ts";
import type { BuildEvent } from "../events/schema.ts";
import { compareOrder, deploysBranch, entityOf, outcomeOf } from "./entity.ts";
import { casUpdate, readJson } from "./kv-state.ts";
import { decodeKeyPart, laneKvKey, recordKvKey, type ChannelName } from "./keys.ts";
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
 * in its lane: a failed preview taken down is not `fixed`.
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
 */
async function readLegacyLane(
  kv: KV,
  channel: ChannelName,
  events: readonly BuildEvent[],
): Promise<LegacyLane | null> {
  const event = events.find((candidate) => entityOf(candidate.data).legacyLaneId !== undefined);
  const legacyLaneId = event && entityOf(event.data).legacyLaneId;
  if (event === undefined || legacyLaneId === undefined) return null;
  const key = laneKvKey(channel, legacyLaneId);
  const numbered = event.data.kind === "deployment";
  return { key, lane: (await readJson<LaneState>(kv, key))?.value ?? null, numbered };
}

/**
 * The lanes an earlier release kept for each tag or commit deployed to this lane's environment,
 * read once, when the environment's own lane is not there yet: the first deployment after an
 * upgrade then follows the environment's latest (`v1.0` failed before it, `v1.0.1` is fixed).
 */
async function readEnvironmentLegacyLanes(
  kv: KV,
  channel: ChannelName,
  laneId: string,
  events: readonly BuildEvent[],
  cache: EntryCache<LaneState> | undefined,
): Promise<LaneState[]> {
  const data = events[0]?.data;
  if (data?.kind !== "deployment" || deploysBranch(data.ref)) return [];
  const laneKey = laneKvKey(channel, laneId);
  if (cache?.get(laneKey) !== undefined || (await readJson<LaneState>(kv, laneKey)) !== null) return [];
  const [provider, kind, repository, , environment] = laneId.split("\u0000");
  const prefix = laneKvKey(channel, "").slice(0, -1);
  const keys: string[] = [];
  for await (const key of await kv.keys(`${prefix}*`)) {
    const parts = decodeKeyPart(key.slice(prefix.length)).split("\u0000");
    const [p, k, r, ref, e] = parts;
    if (parts.length !== 5 || p !== provider || k !== kind || r !== repository || e !== environment) continue;
    // a commit's sha names itself: a lane of a hex ref was a commit's
    if (ref && !deploysBranch({ name: ref, type: null, sha: ref, pullRequest: null })) keys.push(key);
  }
  const lanes = await Promise.all(keys.map((key) => readJson<LaneState>(kv, key)));
  return lanes.flatMap((stored) => (stored === null ? [] : [stored.value]));
}

/** Whether `a` counted a later run (or a later attempt of the same run) than `b`. */
function isLater(a: NonNullable<LaneState["last"]>, b: LaneState["last"]): boolean {
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
function withLaterLast(lane: LaneState | null, other: LaneState | null, numbered = false): LaneState | null {
  if (other === null) return lane;
  const last = other.last && {
    ...other.last,
    order: { number: numbered ? other.last.order.number : null, createdMs: other.last.order.createdMs },
  };
  if (lane === null) return { ...other, last };
  if (!last || !isLater(last, lane.last)) return lane;
  return { ...lane, last, failingSince: other.failingSince };
}

/** Decides each event's transition in its lane, one compare-and-set per lane for the whole batch. */
async function decideAll(
  kv: KV,
  channel: ChannelName,
  events: readonly BuildEvent[],
  cache: EntryCache<LaneState> | undefined,
): Promise<Map<BuildEvent, Decision>> {
  const decisions = new Map<BuildEvent, Decision>();
  // one compare-and-set per lane, all lanes side by side (distinct keys)
  await settleAll(
    groupBy(events, (event) => entityOf(event.data).laneId),
    async ([laneId, laneEvents]) => {
      const legacy = await readLegacyLane(kv, channel, laneEvents);
      const environmentLegacy = await readEnvironmentLegacyLanes(kv, channel, laneId, laneEvents, cache);
      const decided = await casUpdate<LaneState, { decisions: Decision[]; lane: LaneState | null }>(
        kv,
        laneKvKey(channel, laneId),
        (current) => {
          let lane = withLaterLast(current, legacy?.lane ?? null, legacy?.numbered);
          for (const other of current === null ? environmentLegacy : [])
            lane = withLaterLast(lane, other, true);
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
      // an old replica deciding in the legacy lane learns of the runs counted here
      const counted = decided.lane?.last;
      if (legacy?.lane && counted && isLater(counted, legacy.lane.last)) {
        await casUpdate<LaneState, null>(kv, legacy.key, (current) => {
          const next = current && withLaterLast(current, decided.lane, legacy.numbered);
          return { next: next === current ? null : next, result: null };
        });
      }
    },
  );
  return decisions;
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
      const result = await casUpdate<EntityRecord, { record: EntityRecord; changed: boolean }>(
        kv,
        recordKvKey(channel, key),
        (current) => {
          let folded = { record: current, changed: false };
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
