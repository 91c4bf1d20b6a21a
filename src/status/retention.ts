import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { isConflict } from "../bus/kv-cas.ts";
import { applyMaxAge } from "../bus/max-age.ts";
import type { Logger } from "../observability/logger.ts";
import { matchesAnyGlob } from "../notify/glob.ts";
import { BRANCH_WATCH_FILTER, decodeToken } from "./keys.ts";

export interface RetentionOptions {
  readonly kv: KV;
  readonly jsm: JetStreamManager;
  /** the bucket's stream (KV_<bucket>) */
  readonly stream: string;
  /** keep entries this long after their last write; 0 keeps everything forever */
  readonly retentionMs: number;
  /** branch globs whose lists are kept whatever their age */
  readonly keepBranches: readonly string[];
  readonly logger: Logger;
  /** how often to refresh kept lists (default: a sixth of retentionMs, at most an hour) */
  readonly everyMs?: number;
}

export interface RunningRetention {
  stop(): Promise<void>;
}

/**
 * Status retention. The bucket's max age expires what was not written for `retentionMs` on
 * the server: branches nobody builds any more and their run records, so neither the bucket
 * nor every replica's in-memory view grows for ever. Lists of kept branches (main, master…)
 * are rewritten, byte for byte, once they are a third that old, so a quiet repository keeps
 * its badge. The rewrite is a compare-and-set on the revision just read: a replica that
 * wrote in between has refreshed the list already, and its write wins.
 *
 * Kept lists are found on the server, not in this replica's view (which may still be
 * loading), and refreshed before the max age is applied: turning retention on for a bucket
 * that held everything must not expire a year-old main branch in the moment in between. A
 * pass that could not refresh every kept list leaves the max age alone until one that can.
 * Failures are logged and retried on the next pass; they never stop the gateway.
 */
export async function startRetention(options: RetentionOptions): Promise<RunningRetention> {
  const { retentionMs, logger } = options;
  let stopped = false;
  let applied = false;
  const pass = async (): Promise<void> => {
    try {
      const refresh = retentionMs > 0 ? await refreshKeptBranches(options, () => stopped) : { failed: 0 };
      if (!applied && refresh.failed === 0 && !stopped) {
        await applyMaxAge(options.jsm, options.stream, retentionMs, logger);
        applied = true;
      }
    } catch (error) {
      logger.warn({ err: String(error) }, "status retention pass failed; retrying later");
    }
  };
  await pass();
  if (retentionMs === 0 && applied) return { stop: () => Promise.resolve() };

  let running: Promise<void> | null = null;
  const timer = setInterval(
    () => {
      running ??= pass().finally(() => {
        running = null;
      });
    },
    options.everyMs ?? Math.min(3_600_000, retentionMs > 0 ? retentionMs / 6 : 60_000),
  );
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * Rewrites kept branch lists written more than a third of the retention ago. Resolves with
 * how many it refreshed and how many it could not (logged; the next pass tries again).
 */
export async function refreshKeptBranches(
  options: RetentionOptions,
  stopped: () => boolean = () => false,
): Promise<{ refreshed: number; failed: number }> {
  const { kv, retentionMs, keepBranches, logger } = options;
  const due = Date.now() - retentionMs / 3;
  const kept: string[] = [];
  // branch.<provider>.<repository>.<branch>.<pipeline>: the branch is the fourth token
  for await (const key of await kv.keys(BRANCH_WATCH_FILTER)) {
    const token = key.split(".")[3];
    // (a branch name too long to spell out in a key matches no glob an operator keeps)
    const branch = token === undefined ? null : decodeToken(token);
    if (branch !== null && matchesAnyGlob(branch, keepBranches)) kept.push(key);
  }
  let refreshed = 0;
  let failed = 0;
  for (const key of kept) {
    if (stopped()) break;
    try {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== "PUT" || entry.created.getTime() >= due) continue;
      await kv.update(key, entry.value, entry.revision);
      refreshed += 1;
    } catch (error) {
      // written since it was read: that write refreshed it too
      if (isConflict(error)) continue;
      failed += 1;
      logger.warn({ key, err: String(error) }, "could not refresh a kept branch list");
    }
  }
  if (refreshed > 0) logger.info({ lists: refreshed }, "kept branch lists refreshed against retention");
  return { refreshed, failed };
}
