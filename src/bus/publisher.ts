import type { JetStreamClient } from "@nats-io/jetstream";
import { headers, TimeoutError } from "@nats-io/nats-core";
import type { BuildEvent } from "../events/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { handOn, inSpan, tracingOn } from "../observability/tracing.ts";
import { onceEvery } from "../observability/throttle.ts";
import { SpoolFullError, type Spool } from "./spool.ts";
import { isStorageFull } from "./storage-full.ts";

export class EventsUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "EventsUnavailableError";
  }
}

/** An event bigger than NATS can carry: no retry, no spool would ever store it. */
export class EventTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `the event built from this webhook is ${bytes} bytes, over what NATS carries (max_payload ${limit})`,
    );
    this.name = "EventTooLargeError";
  }
}

/**
 * The CloudEvents NATS binding reads a message that has headers but no CloudEvents content type
 * as binary mode (attributes in `ce-` headers), and a conforming consumer, such as the
 * CloudEvents SDKs, then finds no event in ours. This header says the body is the whole event.
 * https://github.com/cloudevents/spec/blob/main/cloudevents/bindings/nats-protocol-binding.md#3-nats-message-mapping
 */
export const STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8";

/** NATS's default max_payload, for before the first connection says otherwise. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** what the headers (Nats-Msg-Id, …) and the protocol line may take of max_payload */
const HEADROOM = 1024;
/**
 * Spooled events republished at once. One at a time, each waited for its ack before the next
 * went out: 3,400 events/s, a full spool (200,000 events) in a minute, at 150 µs of the
 * gateway's CPU and 115 µs of nats-server's per event. 64 at a time: 10,000/s at 65 and 27 µs.
 * One connection, so JetStream still stores them in the spool's order.
 */
const REPUBLISH_WINDOW = 64;
/** at most one "events spooled" warning per this long (the first at once) */
const SPOOL_WARN_MS = 30_000;

export interface PublishOutcome {
  /** events JetStream acked in this call */
  readonly stored: number;
  /** of those, how many JetStream already had (same id within the duplicate window) */
  readonly duplicates: number;
  /** events written to the local spool instead, to be republished later */
  readonly spooled: number;
}

export interface PublisherOptions {
  readonly js: JetStreamClient;
  /** whether the NATS connection is up right now; when it is not, skip straight to the spool */
  readonly connected: () => boolean;
  readonly timeoutMs: number;
  readonly spool: Spool | null;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** the server's max_payload (NATS INFO); DEFAULT_MAX_PAYLOAD when not given */
  readonly maxPayload?: () => number;
}

/**
 * Stores build events durably: in JetStream (Nats-Msg-Id = event id, so a redelivered
 * webhook stores nothing twice) or, when JetStream cannot ack in time, in the local spool.
 * Resolves only once every event is durable; throws EventsUnavailableError otherwise.
 */
export class EventPublisher {
  readonly #options: PublisherOptions;
  #flushing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  /** publishes waiting for the end of this event-loop turn (see #endOfTurn) */
  readonly #endOfTurn = endOfTurnBatch<null, never>(() => []);
  /**
   * webhooks' events spooled together at the end of this event-loop turn: every webhook
   * spooled during a turn goes down in one write and one fsync (Spool.appendAll) instead of
   * one each; each resolves with null once its events are on disk, or with what kept them out
   */
  readonly #appendAtEndOfTurn = endOfTurnBatch<readonly BuildEvent[], Error | null>((groups) => {
    const spool = this.#options.spool;
    if (spool === null) return groups.map(() => new Error("no spool"));
    try {
      return spool.appendAll(groups);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      return groups.map(() => failure);
    }
  });
  /** when the last "events spooled" warning was logged (performance.now()), and events spooled since */
  #spoolWarn = onceEvery(SPOOL_WARN_MS);
  #spooledUnwarned = 0;
  /** when JetStream last acked a publish (performance.now()) */
  #ackedAt = 0;
  /**
   * Since when (performance.now()) JetStream has acked nothing, after a publish sent to it
   * went unanswered for the whole publish timeout; null while it answers. A nats-server that
   * is frozen (SIGSTOP, a stalled VM or disk) or a stream without quorum leaves the
   * connection up, so `connected()` says nothing, and every webhook would wait out the
   * timeout before being spooled: one after another, each close to GitHub's 10 s. Meanwhile
   * webhooks go straight to the spool, and the spool's flusher asks JetStream again with the
   * oldest spooled event: its ack (or any other) ends this. Never set without a spool, where
   * trying JetStream is a webhook's only chance.
   */
  #unansweredSince: number | null = null;
  /**
   * Webhooks waiting for their publishes' acks: once JetStream left a publish unanswered they
   * stop waiting (it answered nothing since the oldest of them was sent) and spool their events.
   */
  #waiting = new Set<() => void>();
  /**
   * Why JetStream refuses to store events for want of room (its store full: "insufficient
   * resources"), since its last refusal and until it acks again; null while it has room.
   */
  #refusedForRoom: string | null = null;
  /** "spool flush paused": when it may be said again, and for what reason it was */
  #pausedWarn = onceEvery(SPOOL_WARN_MS);
  #pausedReason: string | null = null;

  constructor(options: PublisherOptions) {
    this.#options = options;
  }

  /** Publishes one event to JetStream and resolves when it acked; `true` when it was a duplicate. */
  async publishOne(event: BuildEvent, payload = JSON.stringify(event)): Promise<boolean> {
    const started = performance.now();
    try {
      const messageHeaders = headers();
      messageHeaders.set("Content-Type", STRUCTURED_CONTENT_TYPE);
      const ack = await this.#options.js.publish(event.type, payload, {
        headers: messageHeaders,
        msgID: event.id,
        timeout: this.#options.timeoutMs,
        retries: 0,
      });
      this.#ackedAt = performance.now();
      if (this.#unansweredSince !== null) this.#answeredAgain();
      if (this.#refusedForRoom !== null) this.#roomAgain();
      this.#options.metrics?.publishLatency.observe({ outcome: "ok" }, (this.#ackedAt - started) / 1000);
      this.#options.metrics?.eventsPublished.inc({ type: event.type, duplicate: String(ack.duplicate) });
      return ack.duplicate;
    } catch (error) {
      this.#options.metrics?.publishLatency.observe(
        { outcome: "error" },
        (performance.now() - started) / 1000,
      );
      // one lost ack while others come back is not a JetStream that stopped answering
      if (error instanceof TimeoutError && this.#ackedAt <= started) this.#leftUnanswered(started);
      if (isStorageFull(error)) this.#refusedWantingRoom(error instanceof Error ? error.message : "");
      throw error;
    }
  }

  /**
   * Why JetStream refuses events for want of room ("insufficient resources": its store is
   * full), or null while it takes them. The webhooks it refuses go to the spool.
   */
  storageFull(): string | null {
    return this.#refusedForRoom;
  }

  #refusedWantingRoom(reason: string): void {
    if (this.#refusedForRoom !== null) return;
    this.#refusedForRoom = reason;
    this.#options.logger.error(
      { reason },
      "JetStream refuses to store events: its store is full; webhooks go to the spool until there is room (docs/operations.md)",
    );
  }

  #roomAgain(): void {
    this.#refusedForRoom = null;
    this.#options.logger.info("JetStream stores events again; webhooks are published to it directly");
  }

  /** Whether webhooks skip JetStream for now: it left a publish unanswered (see #unansweredSince). */
  unanswered(): boolean {
    return this.#unansweredSince !== null;
  }

  /**
   * The connection to NATS was lost: acks sent to it are lost with it, so the webhooks waiting
   * for one spool their events now instead of waiting out the publish timeout.
   */
  connectionLost(): void {
    if (this.#options.spool !== null) this.#stopWaiting();
  }

  #stopWaiting(): void {
    for (const stopWaiting of this.#waiting) stopWaiting();
    this.#waiting.clear();
  }

  #leftUnanswered(since: number): void {
    if (this.#unansweredSince !== null || this.#options.spool === null) return;
    this.#unansweredSince = since;
    this.#stopWaiting();
    this.#options.metrics?.jetstreamUnanswered.set(1);
    this.#options.logger.warn(
      { timeoutMs: this.#options.timeoutMs },
      "JetStream answered no publish within the publish timeout; webhooks go straight to the spool until it answers again",
    );
  }

  #answeredAgain(): void {
    const since = this.#unansweredSince ?? performance.now();
    this.#unansweredSince = null;
    this.#options.metrics?.jetstreamUnanswered.set(0);
    this.#options.logger.info(
      { unansweredMs: Math.round(performance.now() - since) },
      "JetStream answers again; webhooks are published to it directly",
    );
  }

  /** The publishes' results, or null when JetStream left a publish unanswered meanwhile. */
  #untilUnanswered<T>(publishing: Promise<T>): Promise<T | null> {
    // one promise of its own: Promise.race(…).finally(…) makes three, on every webhook
    return new Promise((resolve, reject) => {
      const stopWaiting = (): void => resolve(null);
      this.#waiting.add(stopWaiting);
      publishing.then(
        (results) => {
          this.#waiting.delete(stopWaiting);
          resolve(results);
        },
        (error: unknown) => {
          this.#waiting.delete(stopWaiting);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** JetStream is connected and has not been left unanswered: publish to it, not the spool. */
  #publishing(): boolean {
    return this.#unansweredSince === null && this.#options.connected();
  }

  /**
   * Each event as the JSON to publish; throws EventTooLargeError for one NATS could never
   * carry, before any of them is stored or spooled.
   */
  #serialize(events: readonly BuildEvent[]): string[] {
    const room = (this.#options.maxPayload?.() ?? DEFAULT_MAX_PAYLOAD) - HEADROOM;
    return events.map((event) => {
      const payload = JSON.stringify(event);
      // a UTF-16 unit is at most 3 bytes of UTF-8: most events need no byte count
      if (payload.length * 3 > room) {
        const bytes = Buffer.byteLength(payload);
        if (bytes > room) throw new EventTooLargeError(bytes, room + HEADROOM);
      }
      return payload;
    });
  }

  /**
   * Publishes inside a producer span, and hands that span on in the event, so each consumer's
   * span is its child: the trace shows JetStream's part of the webhook's time, and what came
   * of each event it stored.
   */
  #publishTraced(event: BuildEvent): Promise<boolean> {
    return inSpan(`publish ${event.type}`, event.traceparent, "producer", (span) => {
      const traceparent = handOn(span, event.traceparent);
      if (traceparent === undefined || traceparent === event.traceparent) return this.publishOne(event);
      return this.publishOne({ ...event, traceparent });
    });
  }

  async publish(events: readonly BuildEvent[]): Promise<PublishOutcome> {
    const payloads = this.#serialize(events);
    let stored = 0;
    let duplicates = 0;
    let failure: unknown = null;
    // held to the end of the turn, with every other publish asked for during it: webhooks
    // arrive one socket callback at a time, and nats.js writes what was published at the end of
    // each callback, so without this every event costs its own write to the NATS socket (and
    // nats-server a read and an ack); all the webhooks read in one poll go out in one write —
    // at load, twice the webhooks per second for the same CPU — for well under a millisecond
    if (this.#publishing()) await this.#endOfTurn(null);
    if (this.#publishing()) {
      const results = await this.#untilUnanswered(
        Promise.allSettled(
          events.map((event, i) =>
            tracingOn() ? this.#publishTraced(event) : this.publishOne(event, payloads[i]),
          ),
        ),
      );
      // any of them JetStream acked meanwhile is dropped as a duplicate when the spool's copy comes
      if (results === null)
        return { stored, duplicates, spooled: await this.#spool(events, this.#spoolReason()) };
      const leftover: BuildEvent[] = [];
      results.forEach((result, index) => {
        if (result.status === "fulfilled") {
          stored += 1;
          if (result.value) duplicates += 1;
        } else {
          failure = result.reason;
          const event = events[index];
          if (event) leftover.push(event);
        }
      });
      if (leftover.length === 0) return { stored, duplicates, spooled: 0 };
      return { stored, duplicates, spooled: await this.#spool(leftover, failure) };
    }
    return { stored, duplicates, spooled: await this.#spool(events, this.#spoolReason()) };
  }

  /** Why events go to the spool without being offered to JetStream, or without its answer. */
  #spoolReason(): string {
    if (this.#unansweredSince === null || !this.#options.connected()) return "not connected to NATS";
    return `JetStream has acked nothing for ${Math.round(performance.now() - this.#unansweredSince)} ms`;
  }

  async #spool(events: readonly BuildEvent[], cause: unknown): Promise<number> {
    const spool = this.#options.spool;
    const reason = cause instanceof Error ? cause.message : String(cause);
    if (!spool) throw new EventsUnavailableError(`could not store the event in JetStream: ${reason}`);
    const error = (await this.#appendAtEndOfTurn(events)) ?? null;
    if (error instanceof SpoolFullError) throw new EventsUnavailableError(error.message);
    if (error !== null)
      throw new EventsUnavailableError(
        `JetStream unavailable (${reason}) and the spool failed: ${String(error)}`,
      );
    this.#reportSpool();
    this.#warnSpooled(events.length, reason);
    return events.length;
  }

  /**
   * One warning when events start going to the spool, then at most one per SPOOL_WARN_MS with
   * how many went there since: every spooled webhook has its own "webhook spooled" line already,
   * and a warning each would be 50 lines a second of an outage at 50 webhooks a second.
   */
  #warnSpooled(events: number, reason: string): void {
    this.#spooledUnwarned += events;
    if (!this.#spoolWarn()) return;
    this.#options.logger.warn(
      { events: this.#spooledUnwarned, reason },
      "JetStream unavailable; events spooled to disk",
    );
    this.#spooledUnwarned = 0;
  }

  #reportSpool(): void {
    const stats = this.#options.spool?.stats();
    if (stats) {
      this.#options.metrics?.spoolDepth.set(stats.events);
      this.#options.metrics?.spoolBytes.set(stats.bytes);
    }
  }

  /** Republishes spooled events now (one flush at a time); resolves with how many went out. */
  flush(): Promise<void> {
    const spool = this.#options.spool;
    if (!spool || !this.#options.connected()) return Promise.resolve();
    if (spool.stats().events === 0) {
      // nothing spooled to ask JetStream with (the spool refused the events): the next webhook asks
      if (this.#unansweredSince !== null) this.#answeredAgain();
      return Promise.resolve();
    }
    this.#flushing ??= (async () => {
      try {
        const count = await spool.drain(async (event) => {
          let payload: string | undefined;
          try {
            [payload] = this.#serialize([event]);
          } catch (error) {
            // spooled before sizes were checked: it can never be stored, and must not hold
            // back every event behind it; it is logged whole so an operator can recover it
            if (!(error instanceof EventTooLargeError)) throw error;
            this.#options.logger.error(
              { eventId: event.id, type: event.type, subject: event.subject, err: error.message, event },
              "spooled event too large for NATS; dropped from the spool",
            );
            return false;
          }
          await this.publishOne(event, payload);
          return true;
        }, REPUBLISH_WINDOW);
        if (count > 0)
          this.#options.logger.info({ events: count }, "spooled events republished to JetStream");
      } catch (error) {
        // tried every flushInterval: said when the reason changes, else at most every SPOOL_WARN_MS
        const reason = String(error);
        if (this.#pausedWarn(reason !== this.#pausedReason)) {
          this.#pausedReason = reason;
          this.#options.logger.warn({ err: reason }, "spool flush paused; JetStream still unavailable");
        }
      } finally {
        this.#reportSpool();
        this.#flushing = null;
      }
    })();
    return this.#flushing;
  }

  startFlusher(intervalMs: number): void {
    this.#reportSpool();
    this.#timer = setInterval(() => void this.flush(), intervalMs);
    this.#timer.unref();
    void this.flush();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#flushing;
    this.#options.spool?.close();
  }
}

/**
 * Collects what is asked for during one event-loop turn and hands it to `run` together in the
 * turn's check phase (setImmediate); each ask resolves with its own entry of what `run`
 * returns. `run` must not throw.
 */
function endOfTurnBatch<T, R>(
  run: (items: readonly T[]) => readonly R[],
): (item: T) => Promise<R | undefined> {
  let items: T[] = [];
  let waiting: Array<(result: R | undefined) => void> = [];
  return (item) =>
    new Promise((resolve) => {
      items.push(item);
      if (waiting.push(resolve) > 1) return;
      setImmediate(() => {
        const batch = items;
        const released = waiting;
        items = [];
        waiting = [];
        const results = run(batch);
        released.forEach((release, i) => release(results[i]));
      });
    });
}
