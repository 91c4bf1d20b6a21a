import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { SUBJECT_WILDCARD } from "../events/subjects.ts";
import type { Config } from "../config/schema.ts";

const ns = (ms: number): number => ms * 1_000_000;

export const DEAD_LETTER_STREAM_SUFFIX = "_DEADLETTERS";
export const deadLetterSubject = (consumer: string): string => `buildcast.deadletter.${consumer}`;

/** BUILD_EVENTS: every build event; dedup by Nats-Msg-Id within the duplicate window. */
export function buildEventsStreamConfig(config: Config["nats"]["stream"]): Partial<StreamConfig> {
  return {
    name: config.name,
    subjects: [SUBJECT_WILDCARD],
    retention: RetentionPolicy.Limits,
    storage: config.storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas,
    duplicate_window: ns(config.duplicateWindow),
    max_age: ns(config.maxAge),
    discard: DiscardPolicy.Old,
  };
}

/** A stream of dead-letter records: messages a consumer could not handle after max_deliver. */
export function deadLetterStreamConfig(config: Config["nats"]["stream"]): Partial<StreamConfig> {
  return {
    name: `${config.name}${DEAD_LETTER_STREAM_SUFFIX}`,
    subjects: ["buildcast.deadletter.>"],
    retention: RetentionPolicy.Limits,
    storage: config.storage === "memory" ? StorageType.Memory : StorageType.File,
    num_replicas: config.replicas,
    max_age: ns(config.maxAge),
  };
}

/** Creates the stream or updates it to what we set; resolves with its configuration now. */
async function ensure(jsm: JetStreamManager, wanted: Partial<StreamConfig>): Promise<Partial<StreamConfig>> {
  const name = wanted.name ?? "";
  try {
    const info = await jsm.streams.info(name);
    // storage and retention cannot change on a live stream; the rest of what we set can
    const { storage: _storage, retention: _retention, name: _name, ...updatable } = wanted;
    const config = { ...info.config, ...updatable };
    await jsm.streams.update(name, config);
    return config;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) {
      await jsm.streams.add({ ...wanted, name });
      return wanted;
    }
    throw error;
  }
}

/**
 * The limits someone set on BUILD_EVENTS besides its max age, as "max_bytes 10485760": with
 * its discard policy (old), JetStream drops the oldest events once one is reached, whether or
 * not a consumer has read them. We keep them (an operator's choice), and name them at start.
 */
export function droppingLimits(config: Partial<StreamConfig>): string[] {
  const limits: [string, number | undefined][] = [
    ["max_bytes", config.max_bytes],
    ["max_msgs", config.max_msgs],
    ["max_msgs_per_subject", config.max_msgs_per_subject],
  ];
  return limits.flatMap(([name, value]) => (value !== undefined && value > 0 ? [`${name} ${value}`] : []));
}

/**
 * Creates or updates BUILD_EVENTS and its dead-letter stream to match the config; resolves
 * with BUILD_EVENTS' limits that drop events unread (see droppingLimits).
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  config: Config["nats"]["stream"],
): Promise<string[]> {
  const events = await ensure(jsm, buildEventsStreamConfig(config));
  await ensure(jsm, deadLetterStreamConfig(config));
  return droppingLimits(events);
}

export interface DurableOptions {
  readonly stream: string;
  readonly durable: string;
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly filterSubject?: string;
  /**
   * Where a consumer created now starts: the whole stream when absent, else the first event
   * stored at or after this time. An existing consumer keeps its position.
   */
  readonly startFrom?: () => Date;
}

/** A durable pull consumer with explicit acks; created once, updated when its settings change. */
export async function ensureDurableConsumer(jsm: JetStreamManager, options: DurableOptions): Promise<void> {
  const settings = {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    filter_subject: options.filterSubject ?? SUBJECT_WILDCARD,
    max_deliver: options.maxDeliver,
    ack_wait: ns(options.ackWaitMs),
    max_ack_pending: 1000,
  };
  const update = async (): Promise<void> => {
    await jsm.consumers.update(options.stream, options.durable, {
      // nats-server 2.9 takes an add of an existing durable with another filter as an update:
      // a reader who reused our name would otherwise have narrowed what we see for good
      filter_subject: settings.filter_subject,
      max_deliver: settings.max_deliver,
      ack_wait: settings.ack_wait,
      max_ack_pending: settings.max_ack_pending,
    });
  };
  try {
    await jsm.consumers.info(options.stream, options.durable);
    await update();
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound))
      throw error;
  }
  const start = options.startFrom?.();
  try {
    await jsm.consumers.add(
      options.stream,
      start === undefined
        ? { ...settings, deliver_policy: DeliverPolicy.All }
        : { ...settings, deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.toISOString() },
    );
  } catch (error) {
    // Another replica created it between our look and our add. With a start time the server
    // refuses ours ("start time can not be updated": the two differ by milliseconds); theirs
    // is as good, so use it. If it is not there either, the add's error stands.
    const created = await jsm.consumers.info(options.stream, options.durable).then(
      () => true,
      () => false,
    );
    if (!created) throw error;
    await update();
  }
}
