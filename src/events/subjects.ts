import type { Kind, Phase } from "./schema.ts";

export const EVENT_VERSION = "v1";
export const SUBJECT_WILDCARD = "build.>";

/** Subject equals the CloudEvents type: build.<kind>.<phase>.v1 */
export function eventType(kind: Kind, phase: Phase): string {
  return `build.${kind}.${phase}.${EVENT_VERSION}`;
}
