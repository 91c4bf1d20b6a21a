import { randomBytes } from "node:crypto";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A W3C traceparent for this webhook: continues the caller's trace when it sent one,
 * otherwise starts a new trace. Attached to every event as the CloudEvents extension.
 */
export function traceparentFor(incoming: string | undefined): string {
  const match = incoming ? TRACEPARENT.exec(incoming.trim()) : null;
  const traceId = match?.[1] && !/^0+$/.test(match[1]) ? match[1] : randomBytes(16).toString("hex");
  const flags = match?.[3] ?? "01";
  return `00-${traceId}-${randomBytes(8).toString("hex")}-${flags}`;
}

export const traceIdOf = (traceparent: string): string => traceparent.slice(3, 35);
