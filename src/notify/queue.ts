import type { JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../config/schema.ts";
import type { ChannelName } from "./keys.ts";

export const QUEUE_NAMES: Record<ChannelName, string> = { slack: "notify-slack", email: "notify-email" };

/** bullmq workers block on their connection, so it must never give up on a request (maxRetriesPerRequest: null). */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

/**
 * For Queue.add from a JetStream handler: fail at once while Redis is unreachable, so the
 * handler throws and the message waits on the stream (nak with backoff) instead of hanging.
 */
export function producerConnection(url: string): Redis {
  return new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
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
