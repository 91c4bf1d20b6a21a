import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { ipKeyGenerator, MemoryStore, type Options as RateLimitOptions } from "express-rate-limit";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { inSpan, traceparentOf } from "../observability/tracing.ts";
import { GITHUB_HANDLED_EVENTS } from "../normalize/github.ts";
import { HttpError } from "./http-error.ts";
import { EventsUnavailableError, EventTooLargeError, type EventEmitterLike } from "./publish-port.ts";
import type { HeaderCheck, Received, WebhookRequest } from "./received.ts";
import { traceIdOf } from "./trace.ts";

export type Provider = "github" | "gitlab";
export type Receiver = (request: WebhookRequest) => Promise<Received> | Received;

/** One provider's route: what it checks before reading the body, and what it does with it. */
export interface ProviderReceiver {
  readonly check: HeaderCheck;
  readonly receive: Receiver;
}

export interface WebhookRouteDeps {
  readonly config: Config;
  readonly publisher: EventEmitterLike;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly receivers: Readonly<Record<Provider, ProviderReceiver>>;
  /** security headers every answer carries */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * The client's address as express's `req.ip` gives it (the app's trust-proxy setting
   * decides whose X-Forwarded-For counts): the rate limit's key.
   */
  readonly clientAddress: (req: IncomingMessage) => string | undefined;
}

/**
 * Event names a webhook may be counted under; any other is counted as "other". The header is
 * never verified — GitHub signs the body only, so a body captured once verifies under any
 * event name, and GitLab's token does not vouch for it either — and each distinct label value
 * is a time series kept for the life of the process: labelling by whatever a sender claims
 * would let anyone grow /metrics without bound. An ignored event's name is in its log line.
 */
const COUNTED_EVENTS: Readonly<Record<Provider, ReadonlySet<string>>> = {
  github: new Set([...GITHUB_HANDLED_EVENTS.keys(), "ping"]),
  gitlab: new Set(["Pipeline Hook", "Job Hook", "Build Hook", "Deployment Hook"]),
};

/**
 * The longest event name a log line repeats whole. The header is anyone's to write (see
 * COUNTED_EVENTS) and a refusal is logged at info: a 15 KB name made each refused request a
 * 15 KB line. The providers' names are under 30 characters.
 */
const LOGGED_EVENT_LENGTH = 64;

const loggedEvent = (name: string): string =>
  name.length > LOGGED_EVENT_LENGTH ? `${name.slice(0, LOGGED_EVENT_LENGTH)}…` : name;

const EVENT_HEADER: Readonly<Record<Provider, string>> = {
  github: "x-github-event",
  gitlab: "x-gitlab-event",
};

/** One webhook being answered: what the metrics and the log line need to know about it. */
interface Exchange {
  readonly provider: Provider;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly started: number;
  /** the rate limit's headers, once counted */
  limitHeaders?: Readonly<Record<string, string>>;
}

/**
 * POST /webhooks/{github,gitlab} on node:http, without the express router: the route every
 * CI system hits, at the rate CI systems send. Express's router and body parser added a
 * quarter to this route's CPU per webhook (bench: 25% more webhooks/s without them) and
 * nothing it needs; the rest of the HTTP surface (API, dashboard, health) stays on express.
 * Same answers as on express: rate limit, body limit, encodings, JSON errors; the security
 * headers are the API set (WEBHOOK_ANSWER_HEADERS in app.ts).
 */
export function createWebhookRoute(
  deps: WebhookRouteDeps,
): (provider: Provider, req: IncomingMessage, res: ServerResponse) => void {
  const { config, metrics } = deps;
  // BuildcastWebhooksUnavailable pages on rate() of rejected_503, which cannot see the step a
  // series is born with: the lost webhooks of a short outage would page nobody
  for (const provider of ["github", "gitlab"] as const) {
    for (const event of [...COUNTED_EVENTS[provider], "other"])
      metrics.webhooks.inc({ provider, event, outcome: "rejected_503" }, 0);
  }
  const limit = rateLimiter(config.server.webhookRateLimit, deps.clientAddress);
  const budget = bodyBudget(config.server.bodyMemory);
  const reply = (
    exchange: Exchange,
    status: number,
    outcome: string,
    body: unknown,
    headers: OutgoingHttpHeaders = {},
  ): void => {
    const { provider, req, res } = exchange;
    if (res.headersSent || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, {
      ...deps.headers,
      ...exchange.limitHeaders,
      ...headers,
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(json),
    });
    res.end(json);
    const claimed = req.headers[EVENT_HEADER[provider]];
    const event = typeof claimed === "string" && COUNTED_EVENTS[provider].has(claimed) ? claimed : "other";
    metrics.webhooks.inc({ provider, event, outcome });
    metrics.ingressLatency.observe(
      { provider, status: String(status) },
      (performance.now() - exchange.started) / 1000,
    );
  };

  // a 503 `busy` (too many bodies arriving at once) is counted apart: rejected_503 is what
  // BuildcastWebhooksUnavailable pages on, as JetStream and the spool unable to store events
  const rejected = (exchange: Exchange, error: HttpError): void =>
    reply(
      exchange,
      error.status,
      error.code === "busy" ? "rejected_busy" : `rejected_${error.status}`,
      error.toJSON(),
      error.headers,
    );

  /** A webhook refused for what it is (headers, body, payload): logged, then answered. */
  const refused = (exchange: Exchange, error: HttpError, traceId?: string): void => {
    const { provider, req } = exchange;
    const event = loggedEvent(header(req, EVENT_HEADER[provider]) ?? "unknown");
    deps.logger.info(
      { provider, traceId, event, status: error.status, error: error.code },
      "webhook rejected",
    );
    rejected(exchange, error);
  };

  const readBody = async (exchange: Exchange): Promise<Buffer | null> => {
    const { req } = exchange;
    // Neither provider compresses webhooks; inflating would turn a small request into up to
    // bodyLimit bytes of work before the signature is checked, so Content-Encoding gets a 415.
    const encoding = (req.headers["content-encoding"] ?? "identity").toLowerCase();
    if (encoding !== "identity") {
      rejected(
        exchange,
        new HttpError(
          415,
          "unsupported_encoding",
          `Content-Encoding "${encoding}" is not accepted; send the body uncompressed`,
        ),
      );
      return null;
    }
    try {
      return await readLimited(req, config.server.bodyLimit, budget);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      // the answer waits until the rest of the body has been read off (and dropped), so the
      // client (still sending) sees it instead of a reset connection; a 503 need not wait
      if (error.status !== 503) await drain(req);
      else req.resume();
      rejected(exchange, error);
      return null;
    }
  };

  const handle = async (exchange: Exchange, receiver: ProviderReceiver): Promise<void> => {
    const { req } = exchange;
    // headers first: a stranger without the token or a well-formed signature never gets a
    // body of up to bodyLimit bytes buffered
    try {
      receiver.check((name) => header(req, name));
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      refused(exchange, error);
      // read off and drop what the client still sends, without keeping it
      req.resume();
      return;
    }
    await receiveBody(exchange, receiver.receive);
  };

  const receiveBody = async (exchange: Exchange, receive: Receiver): Promise<void> => {
    const rawBody = await readBody(exchange);
    if (rawBody === null) return;
    const incoming = header(exchange.req, "traceparent");
    await inSpan(`POST /webhooks/${exchange.provider}`, incoming, "server", (span) =>
      accept(exchange, receive, rawBody, traceparentOf(span, incoming)),
    );
  };

  const accept = async (
    exchange: Exchange,
    receive: Receiver,
    rawBody: Buffer,
    traceparent: string,
  ): Promise<void> => {
    const { provider, req } = exchange;
    const traceId = traceIdOf(traceparent);
    const claimed = loggedEvent(header(req, EVENT_HEADER[provider]) ?? "unknown");
    try {
      const received = await receive({ header: (name) => header(req, name), rawBody });
      if (received.outcome === "ping") {
        deps.logger.info({ provider, traceId, event: received.event }, "ping received");
        reply(exchange, 200, "ping", { ok: true, message: "pong" });
        return;
      }
      if (received.outcome === "ignored") {
        const { event, reason } = received;
        deps.logger.debug({ provider, traceId, event: loggedEvent(event), reason }, "event ignored");
        reply(exchange, 202, "ignored", reason === null ? { ignored: event } : { ignored: event, reason });
        return;
      }
      const events = received.events.map((event) => ({ ...event, traceparent }));
      const outcome = await deps.publisher.publish(events);
      const ids = events.map((event) => ({ id: event.id, type: event.type }));
      deps.logger.info(
        {
          provider,
          traceId,
          event: received.event,
          deliveryId: received.deliveryId,
          events: ids.map((e) => e.id),
          ...outcome,
        },
        outcome.spooled > 0 ? "webhook spooled" : "webhook accepted",
      );
      const result =
        outcome.spooled > 0
          ? "spooled"
          : outcome.duplicates === events.length && events.length > 0
            ? "duplicate"
            : "accepted";
      reply(exchange, 202, result, {
        accepted: events.length,
        duplicates: outcome.duplicates,
        spooled: outcome.spooled,
        events: ids,
      });
    } catch (error) {
      if (error instanceof HttpError) {
        refused(exchange, error, traceId);
        return;
      }
      if (error instanceof EventTooLargeError) {
        deps.logger.warn(
          { provider, traceId, event: claimed, bytes: error.bytes, limit: error.limit },
          "webhook refused: its event is too large for NATS",
        );
        rejected(exchange, new HttpError(413, "event_too_large", error.message));
        return;
      }
      if (error instanceof EventsUnavailableError) {
        deps.logger.error(
          { provider, traceId, event: claimed, err: error.message },
          "webhook could not be stored",
        );
        rejected(exchange, new HttpError(503, "unavailable", error.message, { "retry-after": "5" }));
        return;
      }
      throw error;
    }
  };

  const admit = async (exchange: Exchange): Promise<void> => {
    const { headers, refusal } = await limit(exchange.req);
    exchange.limitHeaders = headers;
    if (refusal) rejected(exchange, refusal);
    else await handle(exchange, deps.receivers[exchange.provider]);
  };

  return (provider, req, res) => {
    const exchange: Exchange = { provider, req, res, started: performance.now() };
    admit(exchange).catch((error: unknown) => {
      deps.logger.error(
        { provider, err: error instanceof Error ? error.stack : String(error) },
        "webhook failed",
      );
      reply(exchange, 500, "rejected_500", {
        error: "internal",
        message: "the gateway failed to handle this webhook; it was not stored",
      });
    });
  };
}

/**
 * Bytes of webhook bodies being received at once, across requests, counted as they arrive:
 * a sender that declares a large body and sends nothing holds nothing, and a flood of large
 * signed-looking bodies gets 503s instead of the gateway's memory. A request alone is always
 * let in (up to the body limit), so a lone big webhook is never refused.
 */
export interface BodyBudget {
  /** takes `bytes` more for a request that holds `mine` already; false when they do not fit */
  take(bytes: number, mine: number): boolean;
  release(bytes: number): void;
}

export function bodyBudget(total: number): BodyBudget {
  let held = 0;
  return {
    take(bytes, mine) {
      if (held + bytes > total && held - mine > 0) return false;
      held += bytes;
      return true;
    },
    release(bytes) {
      held -= bytes;
    },
  };
}

/**
 * Reads a request body of at most `limit` bytes, each chunk counted against the budget as it
 * arrives and given back once the body is handed over (or dropped). Throws the HttpError to
 * answer: 413 over the limit (at once when Content-Length says so), 503 busy past the
 * budget, 400 when the client stops short.
 */
function readLimited(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  const tooLarge = () =>
    new HttpError(413, "payload_too_large", `the request body exceeds the limit of ${limit} bytes`);
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error: HttpError | null): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      req.off("error", onError);
      budget.release(received);
      if (error) reject(error);
      // a body that came in one chunk (most do: a 20 KB webhook is one socket read) is that
      // chunk, a copy of its own from the HTTP parser: copying it again would only cost
      else resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer): void => {
      if (received + chunk.length > limit) return finish(tooLarge());
      if (!budget.take(chunk.length, received)) {
        return finish(
          new HttpError(503, "busy", "too many webhook bodies are being received at once; retry shortly", {
            "retry-after": "1",
          }),
        );
      }
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = (): void => finish(null);
    const onClose = (): void =>
      finish(new HttpError(400, "bad_request", "the request ended before its body did"));
    const onError = (error: Error): void => finish(new HttpError(400, "bad_request", error.message));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
    req.on("error", onError);
  });
}

interface RateLimitVerdict {
  /** the IETF draft-7 RateLimit headers, as express-rate-limit sends them */
  readonly headers: Readonly<Record<string, string>>;
  /** the 429 (with Retry-After) when this request is over the limit */
  readonly refusal: HttpError | null;
}

/**
 * Webhooks per client address in a fixed window: express-rate-limit's MemoryStore and its
 * IPv6 subnet key (one /56 is one client), without its express middleware — that spent
 * more CPU per webhook than verifying the signature (it evaluates `req.ip` for a debug line
 * and needs express's request prototype, whose swap onto every request cost 10% of
 * ingress throughput on its own).
 */
function rateLimiter(
  { window, max }: { readonly window: number; readonly max: number },
  clientAddress: (req: IncomingMessage) => string | undefined,
): (req: IncomingMessage) => Promise<RateLimitVerdict> {
  const store = new MemoryStore();
  // the store reads only windowMs from the middleware's options
  store.init({ windowMs: window } as RateLimitOptions);
  const policy = `${max};w=${Math.ceil(window / 1000)}`;
  const refused = `more than ${max} webhooks in ${window} ms from this address; retry later`;
  return async (req) => {
    // a connection already gone has no address; those share one key rather than none
    const { totalHits, resetTime } = await store.increment(ipKeyGenerator(clientAddress(req) ?? "unknown"));
    const reset = resetTime
      ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000))
      : Math.ceil(window / 1000);
    return {
      headers: {
        "ratelimit-policy": policy,
        ratelimit: `limit=${max}, remaining=${Math.max(max - totalHits, 0)}, reset=${reset}`,
      },
      refusal:
        totalHits <= max
          ? null
          : new HttpError(429, "rate_limited", refused, { "retry-after": String(reset) }),
    };
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

/** Reads off (and discards) whatever is left of a request body. */
function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once("end", resolve);
    req.once("close", resolve);
    req.once("error", resolve);
    req.resume();
  });
}
