import { randomFillSync } from "node:crypto";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * A W3C traceparent for this webhook: continues the caller's trace when it sent one,
 * otherwise starts a new trace. Attached to every event as the CloudEvents extension.
 */
export function traceparentFor(incoming: string | undefined): string {
  const match = incoming ? TRACEPARENT.exec(incoming.trim()) : null;
  const traceId = match?.[1] && !/^0+$/.test(match[1]) ? match[1] : randomHex(16);
  const flags = match?.[3] ?? "01";
  return `00-${traceId}-${randomHex(8)}-${flags}`;
}

// Every webhook needs 24 random bytes; one getrandom call per 4 KiB instead of two per request.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** `bytes` cryptographically random bytes as hex, served from a pool refilled in bulk. */
export function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString("hex", poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

export const traceIdOf = (traceparent: string): string => traceparent.slice(3, 35);
