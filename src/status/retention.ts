import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { nanos } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";
import { matchesAnyGlob } from "../notify/glob.ts";
import type { RunningView } from "./view.ts";

export interface RetentionOptions {
  readonly kv: KV;
  readonly jsm: JetStreamManager;
  /** the bucket's stream (KV_<bucket>) */
  readonly stream: string;
  /** keep entries this long after their last write; 0 keeps everything forever */
  readonly retentionMs: number;
  /** branch globs whose lists are kept whatever their age */
  readonly keepBranches: readonly string[];
  readonly view: RunningView;
  readonly logger: Logger;
  /** how often to refresh kept lists (default: a quarter of retentionMs, at most an hour) */
  readonly touchEveryMs?: number;
}

export interface RunningRetention {
  stop(): Promise<void>;
}

/**
 * Status retention. The bucket's max age expires what was not written for `retentionMs` on
 * the server: branches nobody builds any more and their run records, so neither the bucket
 * nor every replica's in-memory view grows for ever. Lists of kept branches (main, master…)
 * are rewritten, unchanged, once they are half that old, so a quiet repository keeps its
 * badge. The rewrite is a compare-and-set on the revision the view holds: a replica that
 * wrote in between has refreshed the list already, and its write wins.
 *
 * Kept lists are refreshed before the max age is applied: turning retention on for a bucket
 * that held everything must not expire a year-old main branch in the moment in between.
 */
export async function startRetention(options: RetentionOptions): Promise<RunningRetention> {
  const { retentionMs, logger } = options;
  if (retentionMs > 0) await touchKeptBranches(options);
  await applyMaxAge(options.jsm, options.stream, retentionMs, logger);
  if (retentionMs === 0) return { stop: () => Promise.resolve() };

  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      running = touchKeptBranches(options).catch((error: unknown) =>
        logger.warn({ err: String(error) }, "refreshing kept branch lists failed; retrying later"),
      );
    },
    options.touchEveryMs ?? Math.min(3_600_000, Math.max(1000, retentionMs / 4)),
  );
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/** Rewrites kept branch lists older than half the retention; resolves with how many it refreshed. */
export async function touchKeptBranches(options: RetentionOptions): Promise<number> {
  const { kv, view, retentionMs, keepBranches } = options;
  const due = Date.now() - retentionMs / 2;
  const stale = [...view.held()].filter(
    ({ written, state }) => written < due && matchesAnyGlob(state.branch, keepBranches),
  );
  let touched = 0;
  for (const { key, revision, state } of stale) {
    try {
      await kv.update(key, JSON.stringify(state), revision);
      touched += 1;
    } catch (error) {
      // "wrong last sequence": written since the view saw it, which refreshed it too
      if (!/wrong last sequence/i.test(String(error))) throw error;
    }
  }
  if (touched > 0) options.logger.info({ lists: touched }, "kept branch lists refreshed against retention");
  return touched;
}

/** Sets the bucket stream's max age (0: none), with a duplicate window no longer than it. */
export async function applyMaxAge(
  jsm: JetStreamManager,
  stream: string,
  maxAgeMs: number,
  logger: Logger,
): Promise<void> {
  const { config } = await jsm.streams.info(stream);
  const maxAge = nanos(maxAgeMs);
  if (config.max_age === maxAge) return;
  const window = config.duplicate_window ?? 0;
  await jsm.streams.update(stream, {
    max_age: maxAge,
    ...(maxAge > 0 && window > maxAge ? { duplicate_window: maxAge } : {}),
  });
  logger.info(
    { stream, retention: maxAgeMs === 0 ? "forever" : `${maxAgeMs} ms` },
    "status retention applied to the bucket",
  );
}
