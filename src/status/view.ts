import type { KV, KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";
import { BRANCH_WATCH_FILTER, repositoryKey } from "./keys.ts";
import type { EntryCache } from "../bus/kv-cache.ts";
import { compactBranch, type SharedRepositories } from "./compact.ts";
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

/** A view that holds nothing: what the router reads before the store has loaded. */
export const EMPTY_VIEW: StatusView = {
  states: () => [],
  forRepository: () => [],
  revision: () => 0,
  changedSince: () => [],
  subscribe: () => () => undefined,
};

export interface RunningView extends StatusView {
  /**
   * Drops lists older than the bucket's max age now (the view also does this on its own
   * every `pruneEveryMs`); resolves with how many it dropped.
   */
  forgetExpired(): Promise<number>;
  /** how many branch lists the view holds */
  size(): number;
  stop(): Promise<void>;
}

interface Slot {
  /** the key as the view, its index and the cache hold it (see apply) */
  key: string;
  state: BranchState | null;
  revision: number;
  written: number;
}

export interface ViewOptions {
  /**
   * How long start waits with no entry arriving before it serves what arrived: a large
   * bucket keeps it waiting as long as the watch delivers, a stalled watch does not.
   */
  readonly readyTimeoutMs?: number;
  /**
   * Branch lists this process wrote (and what the view read): a watched write of a value
   * already in it, at the same revision or still on its way from this process with the same
   * bytes, is taken from it instead of parsed again (40 KB of JSON for a branch of 50 runs),
   * and every value the view reads goes into it for the store's next compare-and-set.
   */
  readonly cache?: EntryCache<BranchState>;
  /**
   * How often to drop lists older than the bucket's max age (default: a tenth of the max
   * age, at least a second and at most a minute; a minute while the bucket has none). The
   * server expires them without telling any watcher, so each replica drops its own copy at
   * the same age, reading the max age from the bucket: a replica configured differently, or
   * started before a worker changed it, still mirrors what the server keeps.
   */
  readonly pruneEveryMs?: number;
}

export async function startView(
  kv: KV,
  logger: Logger,
  { readyTimeoutMs = 10_000, cache, pruneEveryMs }: ViewOptions = {},
): Promise<RunningView> {
  const slots = new Map<string, Slot>();
  const byRepository = new Map<string, Set<string>>();
  const repositories: SharedRepositories = new Map();
  const listeners = new Set<(change: ViewChange) => void>();
  let maxRevision = 0;
  let held = 0;

  /**
   * Puts a key's new slot in place (none: the key is forgotten), keeps the count and the
   * repository index, and tells the listeners. A watched write or delete and an expiry the
   * view notices itself go through here alike.
   */
  const change = (key: string, slot: Slot | null, revision: number, previous: BranchState | null): void => {
    const state = slot?.state ?? null;
    if (slot) slots.set(key, slot);
    else slots.delete(key);
    held += (state ? 1 : 0) - (previous ? 1 : 0);
    const repository = repositoryKey((state ?? previous)?.repository.fullName);
    if (repository !== undefined) {
      const keys = byRepository.get(repository) ?? new Set<string>();
      if (state) keys.add(key);
      else keys.delete(key);
      if (keys.size > 0) byRepository.set(repository, keys);
      else {
        byRepository.delete(repository);
        repositories.delete(repository);
      }
    }
    const event: ViewChange = { key, revision, state, previous };
    for (const listener of listeners) listener(event);
  };

  /** the list with its values held once (see compactBranch), or as it is if it cannot be */
  const compact = (state: BranchState): BranchState => {
    try {
      const repository = repositoryKey(state.repository.fullName);
      return repository === undefined ? state : compactBranch(state, repositories, repository);
    } catch {
      return state; // not the shape this release writes: kept and answered as before
    }
  };

  const apply = (entry: KvWatchEntry): void => {
    const slot = slots.get(entry.key);
    // one copy of each key: the watch's is a slice of the message's subject, which it keeps
    // whole, and a new one with every write
    const key = slot?.key ?? Buffer.from(entry.key).toString();
    const previous = slot?.state ?? null;
    let state: BranchState | null = null;
    if (entry.operation === "PUT") {
      const cached = cache?.get(key);
      const known =
        cached?.revision === entry.revision ? cached.value : cache?.beingWritten(key, entry.value);
      if (known !== undefined) state = known;
      else {
        try {
          state = entry.json<BranchState>();
        } catch (error) {
          logger.warn({ key, err: String(error) }, "unreadable status entry ignored");
          return;
        }
      }
      state = compact(state);
      cache?.remember(key, entry.revision, state, entry.length);
    } else cache?.forget(key, entry.revision);
    maxRevision = Math.max(maxRevision, entry.revision);
    change(
      key,
      { key, state, revision: entry.revision, written: entry.created.getTime() },
      entry.revision,
      previous,
    );
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
  let lastArrival = Date.now();
  const loop = (async () => {
    for await (const entry of watch) {
      lastArrival = Date.now();
      apply(entry);
      if (entry.delta === 0) markReady();
    }
  })().catch((error: unknown) => logger.error({ err: String(error) }, "status watch ended"));

  // Waits while the watch delivers (200,000 lists take some 18 s, and a replica answering
  // before would call the branches not yet read 404 and their badges unknown), and gives up
  // only after readyTimeoutMs without an entry
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    ready,
    new Promise<void>((resolve) => {
      const check = (): void => {
        const idle = Date.now() - lastArrival;
        if (idle < readyTimeoutMs) {
          timer = setTimeout(check, readyTimeoutMs - idle);
          return;
        }
        logger.warn(
          { timeoutMs: readyTimeoutMs, lists: held },
          "status view not fully loaded (no entry arrived for the timeout); serving what arrived",
        );
        resolve();
      };
      timer = setTimeout(check, readyTimeoutMs);
    }),
  ]);
  clearTimeout(timer);

  // A list expired on the server leaves no trace in the watch, so a live feed resuming
  // from an older revision is not told about it (changedSince); connected ones are.
  const drop = (maxAgeMs: number): number => {
    const cutoff = Date.now() - maxAgeMs;
    let dropped = 0;
    for (const [key, slot] of slots) {
      if (slot.written >= cutoff) continue;
      if (slot.state === null) {
        slots.delete(key); // a deleted key's marker: nobody to tell
        continue;
      }
      dropped += 1;
      cache?.forget(key, slot.revision);
      change(key, null, slot.revision, slot.state);
    }
    return dropped;
  };
  let maxAgeMs = 0;
  const forgetExpired = async (): Promise<number> => {
    try {
      maxAgeMs = (await kv.status()).ttl;
    } catch (error) {
      logger.warn({ err: String(error) }, "could not read the status bucket's max age; using the last one");
    }
    return maxAgeMs > 0 ? drop(maxAgeMs) : 0;
  };
  let pruner: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    const every = pruneEveryMs ?? (maxAgeMs > 0 ? Math.min(60_000, Math.max(1000, maxAgeMs / 10)) : 60_000);
    pruner = setTimeout(() => void forgetExpired().finally(schedule), every);
    pruner.unref();
  };
  await forgetExpired();
  schedule();

  return {
    states: function* () {
      for (const slot of slots.values()) if (slot.state) yield slot.state;
    },
    forRepository: (fullName) =>
      [...(byRepository.get(repositoryKey(fullName) ?? "") ?? [])].flatMap((key) => {
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
    forgetExpired,
    size: () => held,
    stop: async () => {
      stopped = true;
      clearTimeout(pruner);
      watch.stop();
      await loop;
    },
  };
}
