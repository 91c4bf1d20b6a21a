import type { JetStreamClient, JetStreamManager, JsMsg, ConsumerMessages } from "@nats-io/jetstream";
import { parseBuildEvent, EventValidationError } from "../events/build-event.ts";
import type { BuildEvent } from "../events/schema.ts";
import type { Logger } from "../observability/logger.ts";
import { countFromZero, type Metrics } from "../observability/metrics.ts";
import { inBatchSpans, inSpan, traceIdOrNull } from "../observability/tracing.ts";
import { onceEvery } from "../observability/throttle.ts";
import { isStorageFull } from "./storage-full.ts";
import { deadLetterSubject, ensureDurableConsumer } from "./stream.ts";

/**
 * Thrown by a handler when something it depends on (Redis, say) is down rather than the
 * message being at fault. The consumer then holds the message — retrying in place and
 * telling JetStream it is still working — instead of spending its bounded deliveries, so an
 * outage of any length ends with the work done, not dead-lettered.
 */
export class DependencyUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DependencyUnavailableError";
  }
}

export interface HandlerContext {
  /** 1 on the first delivery */
  readonly deliveryCount: number;
  /**
   * Whether this message was tried before — redelivered by JetStream, or retried in place
   * after a dependency outage — so work a failed try may have half done must be redone.
   */
  readonly retry: boolean;
  readonly streamSequence: number;
  /** the W3C trace id this event carries, for log correlation from webhook to delivery */
  readonly traceId: string | null;
  /** tells JetStream the work is still going (resets ack_wait) */
  working(): void;
}

export type EventHandler = (event: BuildEvent, context: HandlerContext) => Promise<void>;

export interface BatchContext {
  /** whether any of the events was tried before, so half-done work must be redone */
  readonly retry: boolean;
  /**
   * The trace context to give what an event causes (a delivery job): this consumer's span in
   * the event's trace, so the delivery shows under it; the event's own when tracing is off.
   */
  traceparentFor(eventTraceparent: string | undefined): string | undefined;
  /** tells JetStream the work is still going (resets ack_wait) */
  working(): void;
}

/**
 * Handles the events the pull delivered together, in delivery order, as one unit of work:
 * resolving means every event's side effect is done or durably queued. Folding the events
 * of one run (one CloudEvents `subject`) into one write is what makes a burst cheap.
 */
export type BatchHandler = (events: readonly BuildEvent[], context: BatchContext) => Promise<void>;

interface ConsumerSettings {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly durable: string;
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** messages pulled per batch */
  readonly batch?: number;
  /** where the durable starts if it has to be created (default: the whole stream) */
  readonly startFrom?: () => Date;
}

/**
 * `handle` takes messages one at a time. `handleBatch` takes what has arrived (up to
 * `batch` messages) at once, so a burst of one run can cost one write instead of one per
 * event.
 */
export type ConsumerOptions = ConsumerSettings &
  (
    | { readonly handle: EventHandler; readonly handleBatch?: never }
    | { readonly handleBatch: BatchHandler; readonly handle?: never }
  );

export interface RunningConsumer {
  readonly durable: string;
  /** stops pulling, lets the message in hand finish, returns the rest to the stream */
  stop(): Promise<void>;
}

export interface DeadLetterRecord {
  readonly consumer: string;
  readonly stream: string;
  readonly streamSequence: number;
  readonly deliveries: number;
  readonly reason: string;
  readonly subject: string;
  readonly body: string;
}

/** Redelivery delay after a failure: exponential from 1 s, capped at 60 s, with jitter. */
export function retryDelayMs(deliveryCount: number, random: () => number = Math.random): number {
  const base = Math.min(60_000, 1000 * 2 ** Math.max(0, deliveryCount - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

/**
 * Runs a durable pull consumer: each message is acked only after `handle` resolved (its side
 * effect is done or durably queued). A failure naks with a growing delay; a message that
 * fails on its last allowed delivery, or is not a valid build event, is written to the
 * dead-letter stream before it is terminated — never dropped silently.
 */
export async function startConsumer(options: ConsumerOptions): Promise<RunningConsumer> {
  const { js, jsm, stream, durable, logger } = options;
  await ensureDurableConsumer(jsm, {
    stream,
    durable,
    maxDeliver: options.maxDeliver,
    ackWaitMs: options.ackWaitMs,
    ...(options.startFrom ? { startFrom: options.startFrom } : {}),
  });
  const consumer = await js.consumers.get(stream, durable);
  const log = logger.child({ consumer: durable });
  if (options.metrics) countFromZero(options.metrics, { consumer: durable });
  let stopping = false;
  let messages: ConsumerMessages | undefined;

  const deadLetter = async (msg: JsMsg, reason: string, event?: BuildEvent): Promise<void> => {
    const record: DeadLetterRecord = {
      consumer: durable,
      stream,
      streamSequence: msg.seq,
      deliveries: msg.info.deliveryCount,
      reason,
      subject: msg.subject,
      body: msg.string(),
    };
    await js.publish(deadLetterSubject(durable), JSON.stringify(record), {
      msgID: `${durable}:${stream}:${msg.seq}`,
    });
    msg.term(reason);
    options.metrics?.consumed.inc({ consumer: durable, outcome: "dead_letter" });
    log.error(
      {
        seq: msg.seq,
        traceId: traceIdOrNull(event?.traceparent),
        deliveries: msg.info.deliveryCount,
        reason,
      },
      "message dead-lettered",
    );
  };

  const outageGate = onceEvery(30_000);
  const outageLog = (reason: string): void => {
    if (!outageGate()) return;
    log.warn({ reason }, "a dependency is down; holding the message until it is back");
  };

  interface Delivery {
    readonly msg: JsMsg;
    readonly event: BuildEvent;
  }

  const parse = async (msg: JsMsg): Promise<Delivery | null> => {
    try {
      return { msg, event: parseBuildEvent(msg.json()) };
    } catch (error) {
      const reason = error instanceof EventValidationError ? error.message : `not JSON: ${String(error)}`;
      await deadLetter(msg, reason);
      return null;
    }
  };

  const runHandler = (group: readonly Delivery[], retry: boolean): Promise<void> => {
    const first = group[0];
    if (first === undefined) return Promise.resolve();
    if (options.handleBatch) {
      const handleBatch = options.handleBatch;
      const events = group.map(({ event }) => event);
      return inBatchSpans(
        `consume ${durable}`,
        events.map((event) => event.traceparent),
        "consumer",
        (traceparentFor) =>
          handleBatch(events, {
            retry: retry || group.some(({ msg }) => msg.info.deliveryCount > 1),
            traceparentFor,
            working: () => group.forEach(({ msg }) => msg.working()),
          }),
      );
    }
    const { msg, event } = first;
    const context: HandlerContext = {
      deliveryCount: msg.info.deliveryCount,
      retry: retry || msg.info.deliveryCount > 1,
      streamSequence: msg.seq,
      traceId: traceIdOrNull(event.traceparent),
      working: () => msg.working(),
    };
    return inSpan(`consume ${durable}`, event.traceparent, "consumer", () => options.handle(event, context));
  };

  const giveBack = async ({ msg, event }: Delivery, error: unknown): Promise<void> => {
    const reason = error instanceof Error ? error.message : String(error);
    if (msg.info.deliveryCount >= options.maxDeliver) {
      await deadLetter(msg, reason, event);
      return;
    }
    const delay = retryDelayMs(msg.info.deliveryCount);
    msg.nak(delay);
    options.metrics?.consumed.inc({ consumer: durable, outcome: "retry" });
    log.warn(
      {
        seq: msg.seq,
        eventId: event.id,
        traceId: traceIdOrNull(event.traceparent),
        deliveries: msg.info.deliveryCount,
        retryInMs: delay,
        err: reason,
      },
      "handler failed; will retry",
    );
  };

  /**
   * Acks a group only after its handler resolved. While a dependency is down the group is
   * held and retried in place; any other failure of a group of several is retried one
   * message at a time, so the messages whose work commits are acked and one bad event
   * cannot spend the deliveries of the others.
   */
  const settle = async (group: readonly Delivery[], retried = false): Promise<void> => {
    const longestWait = Math.min(15_000, Math.max(500, options.ackWaitMs / 2));
    try {
      for (let attempt = 0, wait = 500; ; attempt++, wait = Math.min(wait * 2, longestWait)) {
        try {
          await runHandler(group, retried || attempt > 0);
          break;
        } catch (error) {
          // JetStream's store full refuses the KV writes of every message alike until there is room
          if (!(error instanceof DependencyUnavailableError || isStorageFull(error)) || stopping) throw error;
          group.forEach(({ msg }) => msg.working());
          outageLog(error instanceof Error ? error.message : String(error));
          await new Promise((resolve) => setTimeout(resolve, wait));
          group.forEach(({ msg }) => msg.working());
        }
      }
    } catch (error) {
      if (group.length > 1 && !stopping) {
        for (const delivery of group) await settleSafely([delivery], true);
        return;
      }
      for (const delivery of group) await giveBack(delivery, error);
      return;
    }
    // double ack: JetStream confirms it recorded the ack, so a lost ack cannot redeliver
    // silently. One confirmation covers the group: the server takes a connection's acks of a
    // consumer in order and confirms one once it has recorded it, so the ones sent before it
    // are recorded too (a confirmation each cost a request and an answer per event)
    for (const { msg } of group.slice(0, -1)) msg.ack();
    await group.at(-1)?.msg.ackAck();
    options.metrics?.consumed.inc({ consumer: durable, outcome: "ack" }, group.length);
  };

  const settleSafely = async (group: readonly Delivery[], retried = false): Promise<void> => {
    try {
      await settle(group, retried);
    } catch (error) {
      // the ack/nak/dead-letter itself failed (connection lost): ack_wait brings it back
      log.warn(
        { seqs: group.map(({ msg }) => msg.seq), err: String(error) },
        "could not settle message; it will be redelivered",
      );
    }
  };

  /** a batch handler takes the batch as one unit of work, a per-event handler one message at a time */
  const unitsOf = (deliveries: Delivery[]): Delivery[][] =>
    options.handleBatch ? [deliveries] : deliveries.map((delivery) => [delivery]);

  const handleBatch = async (batch: readonly JsMsg[]): Promise<void> => {
    // slow work (a KV write retried through a leader election) tells JetStream it is alive
    // well before ack_wait, so the messages are not handed to another replica meanwhile; a
    // batch stuck for ten periods stops beating, and JetStream redelivers what it holds
    const unsettled = new Set(batch);
    let beats = 0;
    const heartbeat = setInterval(
      () => {
        if (++beats > 10) clearInterval(heartbeat);
        else unsettled.forEach((msg) => msg.working());
      },
      Math.max(1000, options.ackWaitMs / 3),
    );
    try {
      const deliveries: Delivery[] = [];
      for (const msg of batch) {
        const delivery = await parse(msg).catch((error: unknown) => {
          log.warn(
            { seq: msg.seq, err: String(error) },
            "could not dead-letter message; it will be redelivered",
          );
          return null;
        });
        if (delivery) deliveries.push(delivery);
        else unsettled.delete(msg);
      }
      for (const group of unitsOf(deliveries)) {
        if (stopping) {
          group.forEach(({ msg }) => msg.nak());
        } else {
          await settleSafely(group);
        }
        group.forEach(({ msg }) => unsettled.delete(msg));
      }
    } finally {
      clearInterval(heartbeat);
    }
  };

  /**
   * Closes the pull when its consumer is deleted or recreated under us (an operator's
   * `replay`, a stream restored from backup), so the loop re-binds at once instead of
   * waiting out missed heartbeats.
   */
  const watchStatus = async (pull: ConsumerMessages): Promise<void> => {
    for await (const status of pull.status()) {
      if (status.type === "consumer_deleted" || status.type === "consumer_not_found") {
        log.warn({ status: status.type }, "consumer went away; re-binding");
        await pull.close();
        return;
      }
    }
  };

  /**
   * Binds to the durable again. Someone who deleted it (replay) is usually about to create it
   * with new settings, so wait for that first; only a consumer still missing after 10 s is
   * recreated with ours.
   */
  const rebind = async (): Promise<typeof consumer> => {
    const createAfter = Date.now() + 10_000;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      try {
        if (Date.now() > createAfter) {
          await ensureDurableConsumer(jsm, {
            stream,
            durable,
            maxDeliver: options.maxDeliver,
            ackWaitMs: options.ackWaitMs,
            ...(options.startFrom ? { startFrom: options.startFrom } : {}),
          });
        }
        await jsm.consumers.info(stream, durable);
        return await js.consumers.get(stream, durable);
      } catch (error) {
        if (stopping) return consumer;
        log.debug({ err: String(error) }, "consumer not there yet");
      }
    }
  };

  const loop = (async () => {
    let current = consumer;
    while (!stopping) {
      try {
        messages = await current.consume({ max_messages: options.batch ?? 64 });
        void watchStatus(messages).catch(() => undefined);
        for await (const batch of arrived(messages, options.batch ?? 64)) {
          if (stopping) batch.forEach((msg) => msg.nak());
          else await handleBatch(batch);
        }
      } catch (error) {
        if (stopping) break;
        log.warn({ err: String(error) }, "consumer interrupted; resuming");
      }
      if (stopping) break;
      current = await rebind();
    }
  })();

  return {
    durable,
    stop: async () => {
      stopping = true;
      await messages?.close();
      await loop;
    },
  };
}

const IDLE = Symbol("idle");

/**
 * Yields what the pull has delivered so far (at most `max`), without waiting for more: one
 * message when they trickle in, up to `max` while a burst queues behind the handler. What is
 * buffered resolves within microtasks, so a turn of the event loop (setImmediate) marks its end.
 */
export async function* arrived<T>(source: AsyncIterable<T>, max: number): AsyncGenerator<T[]> {
  const iterator = source[Symbol.asyncIterator]();
  // a pull that fails while a batch is being handled must not crash the process as an
  // unhandled rejection: it is awaited, and thrown, once the batch is done
  const pull = (): Promise<IteratorResult<T>> => {
    const result = iterator.next();
    result.catch(() => undefined);
    return result;
  };
  let next = pull();
  for (;;) {
    const first = await next;
    if (first.done === true) return;
    const batch = [first.value];
    next = pull();
    while (batch.length < max) {
      const idle = new Promise<typeof IDLE>((resolve) => setImmediate(() => resolve(IDLE)));
      const more = await Promise.race([next, idle]);
      if (more === IDLE) break;
      if (more.done === true) {
        yield batch;
        return;
      }
      batch.push(more.value);
      next = pull();
    }
    yield batch;
  }
}
