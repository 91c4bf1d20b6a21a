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
 * Why Redis refuses this gateway's credentials (WRONGPASS, NOAUTH, NOPERM: Redis's own reply,
 * which never holds the password), or null when it takes them — or cannot be reached now,
 * which is an outage the deliveries wait out, not a mistake in the configuration.
 */
export async function redisRefusal(url: string): Promise<string | null> {
  const check = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5000,
  });
  let refusal: string | null = null;
  check.on("error", (error: Error) => {
    // a reply is Redis answering; a connection error is Redis away
    if (error.name === "ReplyError") refusal ??= error.message.replace(/\.$/, "");
  });
  try {
    await check.connect();
    await check.ping();
  } catch {
    // the reason, if it was a refusal, came through the error listener
  } finally {
    check.disconnect();
  }
  return refusal;
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
