import type { BuildEvent } from "../events/schema.ts";
export { EventsUnavailableError, EventTooLargeError, type PublishOutcome } from "../bus/publisher.ts";
import type { PublishOutcome } from "../bus/publisher.ts";

/** What ingress needs from the bus: store these events durably, or throw EventsUnavailableError. */
export interface EventEmitterLike {
  publish(events: readonly BuildEvent[]): Promise<PublishOutcome>;
}
