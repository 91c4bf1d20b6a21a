import type { HandlerContext } from "../../bus/consume.ts";
import type { BuildEvent } from "../../events/schema.ts";
import type { ChannelName } from "../keys.ts";

/**
 * One outbound channel: `handle` turns a build event into durably queued deliveries (it
 * resolves only after Queue.add did), the worker performs them.
 */
export interface DeliveryChannel {
  readonly name: ChannelName;
  handle(event: BuildEvent, context: HandlerContext): Promise<void>;
  startWorker(): void;
  /** deliveries in the dead-letter set (for the buildcast_dead_letters gauge) */
  deadLetterCount(): Promise<number>;
  /** stops taking jobs, waits for the running ones, closes connections */
  close(): Promise<void>;
}
