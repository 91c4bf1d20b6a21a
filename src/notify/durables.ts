import type { JetStreamManager } from "@nats-io/jetstream";
import { notifyConsumer } from "../bus/consumers.ts";
import { ensureDurableConsumer, type DurableOptions } from "../bus/stream.ts";
import type { Config, Secrets } from "../config/schema.ts";
import type { ChannelName } from "./keys.ts";

/** The channels whose credentials are set: each has its durable consumer and its queue. */
export function enabledChannels(secrets: Secrets): ChannelName[] {
  return [
    ...(secrets.slackBotToken !== null ? (["slack"] as const) : []),
    ...(secrets.smtpUrl !== null ? (["email"] as const) : []),
  ];
}

/** A channel's durable consumer of the event stream, as the notifier and the gateway make it. */
export function notifyDurable(channel: ChannelName, config: Config): DurableOptions {
  return {
    stream: config.nats.stream.name,
    durable: notifyConsumer(channel),
    maxDeliver: config.nats.consumer.maxDeliver,
    ackWaitMs: config.nats.consumer.ackWait,
    // only when the durable is created; an existing one keeps its place
    startFrom: () => new Date(Date.now() - config.notify.lookback),
  };
}

/**
 * Makes the enabled channels' durables before their notifiers can start (Redis not answering
 * yet): events accepted meanwhile wait on them however long that takes — a durable made only
 * later would start `notify.lookback` before then — and their lag is reported.
 */
export async function ensureNotifyDurables(
  jsm: JetStreamManager,
  config: Config,
  secrets: Secrets,
): Promise<void> {
  for (const channel of enabledChannels(secrets))
    await ensureDurableConsumer(jsm, notifyDurable(channel, config));
}
