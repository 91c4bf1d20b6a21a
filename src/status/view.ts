import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";
import { BRANCH_WATCH_FILTER } from "./keys.ts";
import type { EntryCache } from "../bus/kv-cache.ts";
import type { BranchState } from "./model.ts";

export interface ViewChange {
  readonly key: string;
  readonly revision: number;
  /** null when the key was deleted */
  readonly state: BranchState | null;
  readonly previous: BranchState | null;
}

/** Every branch list, kept in memory by a KV watch; every replica reads its own copy. */
export interface StatusView {
  readonly states: () => Iterable<BranchState>;
  readonly forRepository: (fullName: string) => BranchState[];
  /** highest KV revision seen; the dashboard resumes its live feed from it */
  readonly revision: () => number;
  /** keys changed after `revision`, for a live feed that reconnects */
  readonly changedSince: (revision: number) => ViewChange[];
  readonly subscribe: (listener: (change: ViewChange) => void) => () => void;
}

export interface RunningView extends StatusView {
  stop(): Promise<void>;
}

interface Slot {
  state: BranchState | null;
  revision: number;
}

export interface ViewOptions {
  readonly readyTimeoutMs?: number;
  /**
   * Branch lists this process wrote (and what the view read): a watched write of a value
   * already in it, at the same revision or still on its way from this process with the same
   * bytes, is taken from it instead of parsed again (40 KB of JSON for a branch of 50 runs),
   * and every value the view reads goes into it for the store's next compare-and-set.
   */
  readonly cache?: EntryCache<BranchState>;
}

export async function startView(
  kv: KV,
  logger: Logger,
  { readyTimeoutMs = 10_000, cache }: ViewOptions = {},
): Promise<RunningView> {
  const slots = new Map<string, Slot>();
  const byRepository = new Map<string, Set<string>>();
  const listeners = new Set<(change: ViewChange) => void>();
  let maxRevision = 0;

  const apply = (entry: KvWatchEntry): void => {
    const previous = slots.get(entry.key)?.state ?? null;
    let state: BranchState | null = null;
    if (entry.operation === "PUT") {
      const cached = cache?.get(entry.key);
      const known =
        cached?.revision === entry.revision ? cached.value : cache?.beingWritten(entry.key, entry.value);
      if (known !== undefined) state = known;
      else {
        try {
          state = entry.json<BranchState>();
        } catch (error) {
          logger.warn({ key: entry.key, err: String(error) }, "unreadable status entry ignored");
          return;
        }
      }
      cache?.remember(entry.key, entry.revision, state, entry.length);
      const keys = byRepository.get(state.repository.fullName) ?? new Set<string>();
      keys.add(entry.key);
      byRepository.set(state.repository.fullName, keys);
    } else cache?.forget(entry.key, entry.revision);
    slots.set(entry.key, { state, revision: entry.revision });
    maxRevision = Math.max(maxRevision, entry.revision);
    const change: ViewChange = { key: entry.key, revision: entry.revision, state, previous };
    for (const listener of listeners) listener(change);
  };

  // an empty bucket sends nothing, so learn first whether there is anything to wait for
  const existing = await kv.keys(BRANCH_WATCH_FILTER);
  let anyKey = false;
  for await (const _ of existing) {
    anyKey = true;
    existing.stop();
    break;
  }
  const watch: QueuedIterator<KvWatchEntry> = await kv.watch({ key: BRANCH_WATCH_FILTER });
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
    if (!anyKey) resolve();
  });
  const loop = (async () => {
    for await (const entry of watch) {
      apply(entry);
      if (entry.delta === 0) markReady();
    }
  })().catch((error: unknown) => logger.error({ err: String(error) }, "status watch ended"));

  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ready,
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn({ timeoutMs: readyTimeoutMs }, "status view not fully loaded; serving what arrived");
        resolve();
      }, readyTimeoutMs);
    }),
  ]);
  clearTimeout(timer);

  return {
    states: function* () {
      for (const slot of slots.values()) if (slot.state) yield slot.state;
    },
    forRepository: (fullName) =>
      [...(byRepository.get(fullName) ?? [])].flatMap((key) => {
        const state = slots.get(key)?.state;
        return state ? [state] : [];
      }),
    revision: () => maxRevision,
    changedSince: (revision) =>
      [...slots.entries()]
        .filter(([, slot]) => slot.revision > revision)
        .map(([key, slot]) => ({ key, revision: slot.revision, state: slot.state, previous: null })),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: async () => {
      watch.stop();
      await loop;
    },
  };
}
