import type { JetStreamManager } from "@nats-io/jetstream";
import type { Metrics } from "../observability/metrics.ts";
import { OWN_CONSUMERS } from "./consumers.ts";

/**
 * Samples, for each of buildcast's durable consumers of the stream, what it has not yet been
 * delivered (lag) and what it holds unacknowledged, into the consumer gauges of /metrics.
 * Every replica samples, whatever its role: when no replica runs a consumer (the `workers`
 * all down), the lag still grows where Prometheus can see it. Other consumers are left out:
 * a durable another team made on the stream lags on its own schedule, and would page
 * buildcast's on-call through BuildcastConsumerLag; ephemeral ones have random names.
 */
export function startLagSampler(options: {
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly metrics: Metrics;
  readonly intervalMs?: number;
}): { stop(): void } {
  const { jsm, stream, metrics } = options;
  let sampling = false;
  const sample = async (): Promise<void> => {
    if (sampling) return;
    sampling = true;
    try {
      const counts: Array<{ consumer: string; pending: number; ackPending: number }> = [];
      for await (const info of jsm.consumers.list(stream)) {
        // a consumer being deleted and recreated (replay) can answer without its counts
        const { num_pending: pending, num_ack_pending: ackPending } = info as Partial<typeof info>;
        const consumer = info.config.durable_name;
        if (!consumer || !OWN_CONSUMERS.includes(consumer)) continue;
        if (typeof pending === "number" && typeof ackPending === "number")
          counts.push({ consumer, pending, ackPending });
      }
      // replaced at once, so a consumer deleted for good stops being reported
      metrics.consumerPending.reset();
      metrics.consumerAckPending.reset();
      for (const { consumer, pending, ackPending } of counts) {
        metrics.consumerPending.set({ consumer }, pending);
        metrics.consumerAckPending.set({ consumer }, ackPending);
      }
    } catch {
      // NATS away: the last values stand until it answers again
    } finally {
      sampling = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), options.intervalMs ?? 5000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
