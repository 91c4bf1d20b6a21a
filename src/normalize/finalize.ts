import { EventValidationError, parseBuildEvent, toBuildEvent } from "../events/build-event.ts";
import type { BuildEvent, BuildEventData } from "../events/schema.ts";
import { PayloadError } from "./errors.ts";

/**
 * Producers validate. Data that fails the contract came from a payload that is not what
 * it claims to be, so the caller sees a PayloadError, never a validation error of ours.
 */
export function finalize(data: BuildEventData, deliveryId: string | null): BuildEvent {
  try {
    return parseBuildEvent(toBuildEvent(data, deliveryId));
  } catch (error) {
    if (error instanceof EventValidationError) throw new PayloadError(error.message);
    throw error;
  }
}
