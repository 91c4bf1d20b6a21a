/**
 * buildcast's own durable consumers of the event stream. Teams that read the stream make
 * theirs beside them (docs/events.md); those are not buildcast's to watch or to replay.
 */
export const STATUS_CONSUMER = "status-store";
export const notifyConsumer = (channel: "slack" | "email"): string => `notify-${channel}`;
export const OWN_CONSUMERS: readonly string[] = [
  STATUS_CONSUMER,
  notifyConsumer("slack"),
  notifyConsumer("email"),
];
