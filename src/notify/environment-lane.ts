import type { KV } from "@nats-io/kv";
import type { EntryCache } from "../bus/kv-cache.ts";
import type { BuildEvent } from "../events/schema.ts";
import { deploysBranch, entityOf } from "./entity.ts";
import { decodeKeyPart, laneKvKey, type ChannelName } from "./keys.ts";
import { casUpdate, readJson } from "./kv-state.ts";
import type { LaneState } from "./transitions.ts";
import { isLater, withLaterLast } from "./lane-merge.ts";

/**
 * An environment's lane: where deployments of its tags and commits are decided, and what a
 * branch's deployments to it are told of them (docs/notifications.md, "Transitions").
 */
export interface EnvironmentLane {
  readonly key: string;
  /** as stored, or, when not stored yet, as the lanes of an earlier release seed it */
  readonly lane: LaneState | null;
}

/**
 * The lanes an earlier release kept for each ref deployed to an environment (it followed
 * deployments by environment and ref), read once, when the environment's own lane is not
 * there yet: the first deployment of a tag after an upgrade follows the environment's latest
 * (`v1.0` failed before it, `v1.0.1` is fixed). A branch's lane stays the branch's; what it
 * counted is marked as the branch's, as countInEnvironment marks it.
 */
async function readEarlierLanes(
  kv: KV,
  channel: ChannelName,
  environmentLaneId: string,
): Promise<LaneState[]> {
  const [provider, kind, repository, , environment] = environmentLaneId.split("\u0000");
  const prefix = laneKvKey(channel, "").slice(0, -1);
  const refs = new Map<string, string>();
  for await (const key of await kv.keys(`${prefix}*`)) {
    // (a key too long to spell out its names, see encodeKeyPart, says nothing of its ref)
    const parts = decodeKeyPart(key.slice(prefix.length))?.split("\u0000") ?? [];
    const [p, k, r, ref, e] = parts;
    const matches =
      parts.length === 5 && p === provider && k === kind && r === repository && e === environment;
    if (matches && ref) refs.set(key, ref);
  }
  const lanes = await Promise.all(
    [...refs].map(async ([key, ref]) => {
      const lane = (await readJson<LaneState>(kv, key))?.value ?? null;
      // a commit's sha names itself: a lane of a hex ref was a commit's
      const branch = deploysBranch({ name: ref, type: null, sha: ref, pullRequest: null });
      return lane?.last && branch ? { ...lane, last: { ...lane.last, branch: ref } } : lane;
    }),
  );
  return lanes.filter((lane) => lane !== null);
}

/** The environment lane of a batch of deployment events; null for other events. */
export async function readEnvironmentLane(
  kv: KV,
  channel: ChannelName,
  laneId: string,
  events: readonly BuildEvent[],
): Promise<EnvironmentLane | null> {
  const event = events[0];
  if (event?.data.kind !== "deployment") return null;
  const environmentLaneId = entityOf(event.data).environmentLaneId ?? laneId;
  const key = laneKvKey(channel, environmentLaneId);
  // read afresh: another replica may have counted a deployment there since this one cached it
  const lane = (await readJson<LaneState>(kv, key))?.value;
  if (lane !== undefined) return { key, lane };
  const earlier = await readEarlierLanes(kv, channel, environmentLaneId);
  const seeded = earlier.reduce<LaneState | null>((seed, other) => withLaterLast(seed, other, true), null);
  return { key, lane: seeded };
}

/**
 * A branch's lane with its environment's latest deployment when that is a later tag or commit:
 * production deployed from `main` after a hotfix tag fixed it is not `fixed` again. Another
 * branch's deployments (one environment's previews of each branch) are never followed.
 */
export function followEnvironment(lane: LaneState | null, environment: LaneState | null): LaneState | null {
  const last = environment?.last;
  if (!environment || !last || last.branch !== undefined) return lane;
  if (lane !== null && !isLater(last, lane.last)) return lane;
  return { version: 1, runs: lane?.runs ?? {}, last, failingSince: environment.failingSince };
}

/** Tells the environment's lane of the latest deployment a branch's lane counted. */
export async function countInEnvironment(
  kv: KV,
  environment: EnvironmentLane,
  branchLane: LaneState | null,
  branch: string,
  cache: EntryCache<LaneState> | undefined,
): Promise<void> {
  const counted = branchLane?.last;
  if (!counted || (environment.lane?.last && !isLater(counted, environment.lane.last))) return;
  await casUpdate<LaneState, null>(
    kv,
    environment.key,
    (current) => {
      const base = current ?? environment.lane;
      if (base?.last && !isLater(counted, base.last))
        return { next: current === null ? base : null, result: null };
      const last = { ...counted, branch };
      return {
        next: { version: 1, runs: base?.runs ?? {}, last, failingSince: branchLane.failingSince },
        result: null,
      };
    },
    { cache },
  );
}
