import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Every metric buildcast exports, in one registry created per process (tests create their
 * own). Modules receive the object and never touch prom-client's global registry.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "buildcast_" });
  const registers = [registry];
  return {
    registry,
    webhooks: new Counter({
      name: "buildcast_webhooks_total",
      help: "Webhooks received, by provider, event and outcome (accepted, spooled, ignored, duplicate, ping, rejected_<status>, rejected_busy)",
      labelNames: ["provider", "event", "outcome"] as const,
      registers,
    }),
    ingressLatency: new Histogram({
      name: "buildcast_ingress_duration_seconds",
      help: "Time from a webhook's arrival to its response",
      labelNames: ["provider", "status"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    publishLatency: new Histogram({
      name: "buildcast_jetstream_publish_duration_seconds",
      help: "JetStream publish round trip (until the stream acked)",
      labelNames: ["outcome"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
    jetstreamUnanswered: new Gauge({
      name: "buildcast_jetstream_unanswered",
      help: "1 while JetStream has acked nothing since a publish went unanswered for nats.publishTimeout: webhooks go straight to the spool until it answers again",
      registers,
    }),
    eventsPublished: new Counter({
      name: "buildcast_events_published_total",
      help: "Build events stored in JetStream, by type and whether JetStream found them duplicate",
      labelNames: ["type", "duplicate"] as const,
      registers,
    }),
    consumerPending: new Gauge({
      name: "buildcast_consumer_pending_messages",
      help: "Messages not yet delivered to a consumer (lag)",
      labelNames: ["consumer"] as const,
      registers,
    }),
    consumerAckPending: new Gauge({
      name: "buildcast_consumer_ack_pending_messages",
      help: "Messages delivered to a consumer and not yet acknowledged",
      labelNames: ["consumer"] as const,
      registers,
    }),
    consumed: new Counter({
      name: "buildcast_consumer_messages_total",
      help: "Messages handled by a consumer, by outcome (ack, retry, dead_letter)",
      labelNames: ["consumer", "outcome"] as const,
      registers,
    }),
    deliveries: new Counter({
      name: "buildcast_deliveries_total",
      help: "Outbound deliveries, by channel and outcome (sent, updated, retry, rate_limited, dead_letter)",
      labelNames: ["channel", "outcome"] as const,
      registers,
    }),
    slackRateLimited: new Counter({
      name: "buildcast_slack_rate_limited_total",
      help: "Slack answers with HTTP 429",
      registers,
    }),
    slackTokenRefused: new Gauge({
      name: "buildcast_slack_token_refused",
      help: "1 while Slack refuses this replica's bot token (invalid_auth, token_revoked, account_inactive, …): Slack notices wait; 0 otherwise",
      registers,
    }),
    deadLetters: new Gauge({
      name: "buildcast_dead_letters",
      help: "Deliveries in the dead-letter set, by channel",
      labelNames: ["channel"] as const,
      registers,
    }),
    spoolDepth: new Gauge({
      name: "buildcast_spool_events",
      help: "Events in the local spool waiting for JetStream",
      registers,
    }),
    statusBranchLists: new Gauge({
      name: "buildcast_status_branch_lists",
      help: "Branch lists held in memory by this replica's status view (lists expire after status.retention)",
      registers,
    }),
    spoolBytes: new Gauge({
      name: "buildcast_spool_bytes",
      help: "Bytes used by the local spool",
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Creates a consumer's and a delivery channel's counter series at 0 when it starts. The
 * alerts read them with increase(), which cannot see a series' first step (there is no
 * earlier sample): a series born with its first dead letter would never fire the alert.
 */
export function countFromZero(
  metrics: Metrics,
  of: { readonly consumer: string } | { readonly channel: string },
): void {
  if ("consumer" in of) {
    for (const outcome of ["ack", "retry", "dead_letter"]) metrics.consumed.inc({ ...of, outcome }, 0);
  } else {
    for (const outcome of ["sent", "updated", "retry", "rate_limited", "dead_letter"])
      metrics.deliveries.inc({ ...of, outcome }, 0);
  }
}
