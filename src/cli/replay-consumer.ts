import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { chooseReplayStart, type ReplayStart } from "./replay-start.ts";

export interface ReplayedConsumer {
  readonly name: string;
  readonly start: ReplayStart;
  /** messages the recreated consumer has to deliver */
  readonly pending: number;
}

/** Durable consumers of a stream, by name. */
export async function durableConsumers(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const names: string[] = [];
  for await (const info of jsm.consumers.list(stream)) {
    if (info.config.durable_name) names.push(info.config.durable_name);
  }
  return names.sort();
}

async function storedTime(jsm: JetStreamManager, stream: string, seq: number): Promise<Date | null> {
  try {
    const message = await jsm.streams.getMessage(stream, { seq });
    return message ? message.time : null;
  } catch {
    return null;
  }
}

/**
 * JetStream 2.9 cannot move a durable consumer back in time, so it is deleted and created
 * again under the same name with the same settings and a start time. A gateway pulling from
 * it keeps its subscription: the client sees the consumer vanish, checks for it again and
 * resumes pulling from the new one.
 */
export async function replayConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  since: Date,
): Promise<ReplayedConsumer> {
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) {
      const known = await durableConsumers(jsm, stream);
      throw new Error(
        `no consumer "${name}" on stream ${stream}; durable consumers: ${known.join(", ") || "(none)"}`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!info.config.durable_name) throw new Error(`consumer "${name}" is not durable; nothing to replay`);
  const start = chooseReplayStart(since, {
    ackFloorSequence: info.ack_floor.stream_seq,
    ackPending: info.num_ack_pending,
    pending: info.num_pending,
    firstUnackedTime: await storedTime(jsm, stream, info.ack_floor.stream_seq + 1),
  });
  const { deliver_policy: _policy, opt_start_seq: _seq, opt_start_time: _time, ...kept } = info.config;
  const config: Partial<ConsumerConfig> =
    start.policy === "by_start_time"
      ? { ...kept, deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time.toISOString() }
      : { ...kept, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.sequence };
  await jsm.consumers.delete(stream, name);
  const created = await jsm.consumers.add(stream, config);
  return { name, start, pending: created.num_pending };
}

/** Messages a consumer still has to deliver or to get acked. */
export async function remaining(jsm: JetStreamManager, stream: string, name: string): Promise<number> {
  const info = await jsm.consumers.info(stream, name);
  return info.num_pending + info.num_ack_pending;
}
