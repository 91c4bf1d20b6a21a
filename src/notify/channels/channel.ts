import type { BatchContext } from "../../bus/consume.ts";
import type { BuildEvent } from "../../events/schema.ts";
import type { ChannelName } from "../keys.ts";

/**
 * One outbound channel: `handle` turns build events (those of one run, as the consumer
 * batches them) into durably queued deliveries (it resolves only after Queue.add did), the
 * worker performs them.
 */
export interface DeliveryChannel {
  readonly name: ChannelName;
  handle(events: readonly BuildEvent[], context: BatchContext): Promise<void>;
  startWorker(): void;
  /** deliveries in the dead-letter set (for the buildcast_dead_letters gauge) */
  deadLetterCount(): Promise<number>;
  /** stops taking jobs, waits for the running ones, closes connections */
  close(): Promise<void>;
}
