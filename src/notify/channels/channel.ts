import type { BatchContext } from "../../bus/consume.ts";
import type { BuildEvent } from "../../events/schema.ts";
import type { ChannelName } from "../keys.ts";
import type { RedisAtShutdown } from "../queue.ts";

/**
 * One outbound channel: `handle` turns build events (those of one run, as the consumer
 * batches them) into durably queued deliveries (it resolves only after Queue.add did), the
 * worker performs them.
 */
export interface DeliveryChannel {
  readonly name: ChannelName;
  handle(events: readonly BuildEvent[], context: BatchContext): Promise<void>;
  startWorker(): void;
  /** what the channel's own health check says (Slack: whether it takes the bot token), for /readyz */
  health?(): string;
  /** deliveries in the dead-letter set (for the buildcast_dead_letters gauge) */
  deadLetterCount(): Promise<number>;
  /**
   * Stops taking jobs, waits for the running ones until `deadline` (ms since the epoch) and
   * hands back to wait those still running then, closes connections; with Redis away, or once
   * it goes away, it waits for nothing (closeWorker). bullmq hands the jobs left active to a
   * worker again once Redis is back (its stalled-job check).
   */
  close(redis: RedisAtShutdown, deadline: number): Promise<void>;
}
