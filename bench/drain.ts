import type { JetStreamManager } from "@nats-io/jetstream";

/** Waits until every durable consumer of the stream has nothing pending or unacked. */
export async function waitForConsumers(
  jsm: JetStreamManager,
  stream: string,
  timeoutMs: number,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    let left = 0;
    for await (const info of jsm.consumers.list(stream)) left += info.num_pending + info.num_ack_pending;
    if (left === 0) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      throw new Error(`consumers still have ${left} messages after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
