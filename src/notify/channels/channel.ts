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
  /** stops taking jobs, waits for the running ones, closes connections */
  close(): Promise<void>;
}
