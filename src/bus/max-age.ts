import type { JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import type { Logger } from "../observability/logger.ts";

/**
 * Sets a stream's max age (0: none), with a duplicate window no longer than it. A KV bucket
 * gets its max age only when it is created (Kvm.create opens an existing bucket as it is), so a
 * changed setting reaches an existing bucket only through this.
 */
export async function applyMaxAge(
  jsm: JetStreamManager,
  stream: string,
  maxAgeMs: number,
  logger: Logger,
): Promise<void> {
  const { config } = await jsm.streams.info(stream);
  const maxAge = nanos(maxAgeMs);
  if (config.max_age === maxAge) return;
  const window = config.duplicate_window ?? 0;
  await jsm.streams.update(stream, {
    max_age: maxAge,
    ...(maxAge > 0 && window > maxAge ? { duplicate_window: maxAge } : {}),
  });
  logger.info(
    { stream, maxAge: maxAgeMs === 0 ? "forever" : `${maxAgeMs} ms` },
    "max age applied to the stream",
  );
}
