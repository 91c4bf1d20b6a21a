import type { JetStreamClient, JetStreamManager, JsMsg, ConsumerMessages } from "@nats-io/jetstream";
import { parseBuildEvent, EventValidationError } from "../events/build-event.ts";
import type { BuildEvent } from "../events/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { traceIdOf } from "../ingress/trace.ts";
import { inSpan } from "../observability/tracing.ts";
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

export interface ConsumerOptions {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly durable: string;
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  readonly handle: EventHandler;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** messages pulled per batch */
  readonly batch?: number;
}

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
  });
  const consumer = await js.consumers.get(stream, durable);
  const log = logger.child({ consumer: durable });
  let stopping = false;
  let messages: ConsumerMessages | undefined;

  const deadLetter = async (msg: JsMsg, reason: string): Promise<void> => {
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
    log.error({ seq: msg.seq, deliveries: msg.info.deliveryCount, reason }, "message dead-lettered");
  };

  let lastOutageLog = 0;
  const outageLog = (reason: string): void => {
    if (Date.now() - lastOutageLog < 30_000) return;
    lastOutageLog = Date.now();
    log.warn({ reason }, "a dependency is down; holding the message until it is back");
  };

  const handleOne = async (msg: JsMsg): Promise<void> => {
    let event: BuildEvent;
    try {
      event = parseBuildEvent(msg.json());
    } catch (error) {
      const reason = error instanceof EventValidationError ? error.message : `not JSON: ${String(error)}`;
      await deadLetter(msg, reason);
      return;
    }
    // slow work (a KV write retried through a leader election) tells JetStream it is alive
    // well before ack_wait, so the message is not handed to another replica meanwhile; a
    // handler stuck for ten periods stops beating, and JetStream redelivers the message
    let beats = 0;
    const heartbeat = setInterval(
      () => {
        if (++beats > 10) clearInterval(heartbeat);
        else msg.working();
      },
      Math.max(1000, options.ackWaitMs / 3),
    );
    try {
      const contextFor = (retry: boolean): HandlerContext => ({
        deliveryCount: msg.info.deliveryCount,
        retry: retry || msg.info.deliveryCount > 1,
        streamSequence: msg.seq,
        traceId: event.traceparent ? traceIdOf(event.traceparent) : null,
        working: () => msg.working(),
      });
      const longestWait = Math.min(15_000, Math.max(500, options.ackWaitMs / 2));
      for (let attempt = 0, wait = 500; ; attempt++, wait = Math.min(wait * 2, longestWait)) {
        try {
          await inSpan(`consume ${durable}`, event.traceparent, "consumer", () =>
            options.handle(event, contextFor(attempt > 0)),
          );
          break;
        } catch (error) {
          if (!(error instanceof DependencyUnavailableError) || stopping) throw error;
          msg.working();
          outageLog(error.message);
          await new Promise((resolve) => setTimeout(resolve, wait));
          msg.working();
        }
      }
      clearInterval(heartbeat);
      // double ack: JetStream confirms it recorded the ack, so a lost ack cannot redeliver silently
      await msg.ackAck();
      options.metrics?.consumed.inc({ consumer: durable, outcome: "ack" });
    } catch (error) {
      clearInterval(heartbeat);
      const reason = error instanceof Error ? error.message : String(error);
      if (msg.info.deliveryCount >= options.maxDeliver) {
        await deadLetter(msg, reason);
        return;
      }
      const delay = retryDelayMs(msg.info.deliveryCount);
      msg.nak(delay);
      options.metrics?.consumed.inc({ consumer: durable, outcome: "retry" });
      log.warn(
        {
          seq: msg.seq,
          eventId: event.id,
          deliveries: msg.info.deliveryCount,
          retryInMs: delay,
          err: reason,
        },
        "handler failed; will retry",
      );
    }
  };

  // lag for /metrics: what the stream holds that this consumer has not yet seen or acked
  const lagTimer = setInterval(() => {
    consumer.info(false).then(
      (info) => {
        options.metrics?.consumerPending.set({ consumer: durable }, info.num_pending);
        options.metrics?.consumerAckPending.set({ consumer: durable }, info.num_ack_pending);
      },
      () => undefined,
    );
  }, 5000);
  lagTimer.unref();

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
        for await (const msg of messages) {
          if (stopping) {
            msg.nak();
            continue;
          }
          try {
            await handleOne(msg);
          } catch (error) {
            // the ack/nak/dead-letter itself failed (connection lost): ack_wait brings it back
            log.warn(
              { seq: msg.seq, err: String(error) },
              "could not settle message; it will be redelivered",
            );
          }
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
      clearInterval(lagTimer);
      await messages?.close();
      await loop;
    },
  };
}
