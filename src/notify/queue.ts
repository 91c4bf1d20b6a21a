import type { JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/schema.ts";
import type { ChannelName } from "./keys.ts";

export const QUEUE_NAMES: Record<ChannelName, string> = { slack: "notify-slack", email: "notify-email" };

type ErrorListener = (error: Error) => void;

/** bullmq workers block on their connection, so it must never give up on a request (maxRetriesPerRequest: null). */
export function redisConnection(url: string, onError: ErrorListener): Redis {
  return new Redis(url, { maxRetriesPerRequest: null }).on("error", onError);
}

/**
 * For Queue.add from a JetStream handler: fail at once while Redis is unreachable, so the
 * handler throws and the message waits on the stream (nak with backoff) instead of hanging.
 */
export function producerConnection(url: string, onError: ErrorListener): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }).on("error", onError);
}

/**
 * ioredis reports every failed reconnect; one line per interval says Redis is away without
 * flooding the log (and an unhandled "error" event would print raw stack traces).
 */
export function throttledErrorLog(warn: (error: Error) => void, intervalMs = 30_000): ErrorListener {
  let last = 0;
  return (error) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    warn(error);
  };
}

const DAY_SECONDS = 86_400;

/**
 * Retries with exponential backoff and jitter; failed jobs stay in the failed set (the
 * dead letters) until an operator retries them. Completed e-mail jobs are kept a week so
 * that re-adding a notice's job id stays a no-op.
 */
export function jobOptions(channel: ChannelName, delivery: Config["notify"]["delivery"]): JobsOptions {
  return {
    attempts: delivery.attempts,
    backoff: { type: "exponential", delay: delivery.backoff, jitter: 0.5 },
    removeOnComplete: channel === "email" ? { age: 7 * DAY_SECONDS, count: 100_000 } : { count: 1000 },
    removeOnFail: false,
  };
}
