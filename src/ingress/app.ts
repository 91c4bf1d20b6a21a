import express, {
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from "express";
import { rateLimit } from "express-rate-limit";
import helmet from "helmet";
import type { Config, Secrets } from "../config/schema.ts";
import { EventsUnavailableError, type EventEmitterLike } from "./publish-port.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { GITHUB_HANDLED_EVENTS } from "../normalize/github.ts";
import { receiveGithub } from "./github.ts";
import { receiveGitlab } from "./gitlab.ts";
import { HttpError } from "./http-error.ts";
import type { Received, WebhookRequest } from "./received.ts";
import { inSpan, traceparentOf } from "../observability/tracing.ts";
import { traceIdOf } from "./trace.ts";

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, string>>;
}

export interface AppDeps {
  readonly config: Config;
  readonly secrets: Secrets;
  readonly publisher: EventEmitterLike;
  readonly readiness: () => Readiness;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** routers mounted after the webhooks (status API, badges, dashboard) */
  readonly routers?: readonly Router[];
}

type Receiver = (request: WebhookRequest) => Promise<Received> | Received;

/**
 * Event names a rejected webhook may be counted under. Its header was never verified, and
 * each distinct label value is a time series kept for the life of the process: labelling
 * by whatever a stranger sends would let anyone grow /metrics without bound.
 */
const COUNTED_EVENTS: Readonly<Record<"github" | "gitlab", ReadonlySet<string>>> = {
  github: new Set([...GITHUB_HANDLED_EVENTS.keys(), "ping"]),
  gitlab: new Set(["Pipeline Hook", "Job Hook", "Build Hook", "Deployment Hook"]),
};

interface WebhookLocals {
  /** accepted, spooled, duplicate, ignored, ping, rejected_<status> */
  outcome?: string;
  /** the verified event name */
  event?: string;
}

/**
 * Counts every answer on a webhook route — including those given before the handler runs
 * (429 from the rate limit, 413 from the body limit) — with its latency.
 */
function countWebhook(provider: "github" | "gitlab", metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once("finish", () => {
      const locals = res.locals as WebhookLocals;
      const claimed = req.get(provider === "github" ? "x-github-event" : "x-gitlab-event") ?? "";
      const event = locals.event ?? (COUNTED_EVENTS[provider].has(claimed) ? claimed : "other");
      metrics.webhooks.inc({ provider, event, outcome: locals.outcome ?? `rejected_${res.statusCode}` });
      metrics.ingressLatency.observe(
        { provider, status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    next();
  };
}

/** The HTTP edge: webhooks in, health and metrics out; everything else is mounted. */
export function createApp(deps: AppDeps): express.Express {
  const { config, secrets, logger, metrics } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", config.server.trustProxy);
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          "default-src": ["'self'"],
          "script-src": ["'self'"],
          "style-src": ["'self'", "'unsafe-inline'"],
          "img-src": ["'self'", "data:"],
          "connect-src": ["'self'"],
        },
      },
    }),
  );

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", (_req, res) => {
    const readiness = deps.readiness();
    res
      .status(readiness.ready ? 200 : 503)
      .json({ status: readiness.ready ? "ready" : "not ready", ...readiness.checks });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const limiter = rateLimit({
    windowMs: config.server.webhookRateLimit.window,
    limit: config.server.webhookRateLimit.max,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    handler: (_req, res) => {
      const { window, max } = config.server.webhookRateLimit;
      res.status(429).json({
        error: "rate_limited",
        message: `more than ${max} webhooks in ${window} ms from this address; retry later`,
      });
    },
  });
  // Neither provider compresses webhooks; inflating would turn a small request into up to
  // bodyLimit bytes of work before the signature is checked, so Content-Encoding gets a 415.
  const rawBody = express.raw({ type: () => true, limit: config.server.bodyLimit, inflate: false });
  const webhook = (provider: "github" | "gitlab", receive: Receiver): RequestHandler[] => [
    countWebhook(provider, metrics),
    limiter,
    rawBody,
    (req, res, next) => {
      inSpan(`POST /webhooks/${provider}`, req.get("traceparent"), "server", (span) =>
        handleWebhook(provider, receive, req, res, deps, traceparentOf(span, req.get("traceparent"))),
      ).catch(next);
    },
  ];
  if (config.role === "workers") {
    app.post(["/webhooks/github", "/webhooks/gitlab"], (_req, res) => {
      res.status(404).json({
        error: "not_found",
        message:
          'this buildcast process runs with role "workers" and takes no webhooks; send them to an ingress replica',
      });
    });
  } else {
    app.post("/webhooks/github", ...webhook("github", (request) => receiveGithub(request, secrets)));
    app.post("/webhooks/gitlab", ...webhook("gitlab", (request) => receiveGitlab(request, secrets)));
  }
  app.all(["/webhooks/github", "/webhooks/gitlab"], (req, res) => {
    res
      .set("Allow", "POST")
      .status(405)
      .json({ error: "method_not_allowed", message: `${req.method} is not allowed; webhooks are POSTed` });
  });

  for (const router of deps.routers ?? []) app.use(router);

  app.use((req, res) => {
    res.status(404).json({ error: "not_found", message: `no route for ${req.method} ${req.path}` });
  });
  app.use(errorHandler(logger));
  return app;
}

async function handleWebhook(
  provider: "github" | "gitlab",
  receive: Receiver,
  req: Request,
  res: Response,
  deps: AppDeps,
  traceparent: string,
): Promise<void> {
  const log = deps.logger.child({ provider, traceId: traceIdOf(traceparent) });
  const claimed = req.get(provider === "github" ? "x-github-event" : "x-gitlab-event") ?? "unknown";
  const finish = (status: number, outcome: string, body: unknown): void => {
    (res.locals as WebhookLocals).outcome = outcome;
    res.status(status).json(body);
  };
  try {
    const rawBody: unknown = req.body;
    const request: WebhookRequest = {
      header: (name) => req.get(name),
      rawBody: Buffer.isBuffer(rawBody) ? rawBody : new Uint8Array(),
    };
    const received = await receive(request);
    (res.locals as WebhookLocals).event = received.event;
    if (received.outcome === "ping") {
      log.info({ event: received.event }, "ping received");
      finish(200, "ping", { ok: true, message: "pong" });
      return;
    }
    if (received.outcome === "ignored") {
      log.debug({ event: received.event }, "event ignored");
      finish(202, "ignored", { ignored: received.event });
      return;
    }
    const events = received.events.map((event) => ({ ...event, traceparent }));
    const outcome = await deps.publisher.publish(events);
    const ids = events.map((event) => ({ id: event.id, type: event.type }));
    log.info(
      { event: received.event, deliveryId: received.deliveryId, events: ids.map((e) => e.id), ...outcome },
      outcome.spooled > 0 ? "webhook spooled" : "webhook accepted",
    );
    finish(
      202,
      outcome.spooled > 0
        ? "spooled"
        : outcome.duplicates === events.length && events.length > 0
          ? "duplicate"
          : "accepted",
      {
        accepted: events.length,
        duplicates: outcome.duplicates,
        spooled: outcome.spooled,
        events: ids,
      },
    );
  } catch (error) {
    if (error instanceof HttpError) {
      log.info({ event: claimed, status: error.status, error: error.code }, "webhook rejected");
      res.set(error.headers);
      finish(error.status, `rejected_${error.status}`, error.toJSON());
      return;
    }
    if (error instanceof EventsUnavailableError) {
      log.error({ event: claimed, err: error.message }, "webhook could not be stored");
      res.set("Retry-After", "5");
      finish(503, "rejected_503", { error: "unavailable", message: error.message });
      return;
    }
    log.error(
      { event: claimed, err: error instanceof Error ? error.stack : String(error) },
      "webhook failed",
    );
    finish(500, "rejected_500", {
      error: "internal",
      message: "the gateway failed to handle this webhook; it was not stored",
    });
  }
}

/** body-parser and everything else that escaped a handler, as JSON; never a stack to the client. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const type = (error as { type?: unknown }).type;
    const status = (error as { status?: unknown }).status;
    if (type === "entity.too.large") {
      const limit = (error as { limit?: number }).limit;
      res.status(413).json({
        error: "payload_too_large",
        message: `the request body exceeds the limit of ${limit ?? "?"} bytes`,
      });
      return;
    }
    if (type === "encoding.unsupported") {
      res.status(415).json({
        error: "unsupported_encoding",
        message: `Content-Encoding "${req.get("content-encoding") ?? ""}" is not accepted; send the body uncompressed`,
      });
      return;
    }
    if (type === "charset.unsupported") {
      res.status(415).json({ error: "unsupported_encoding", message: (error as Error).message });
      return;
    }
    if (
      type === "request.aborted" ||
      type === "request.size.invalid" ||
      (typeof status === "number" && status >= 400 && status < 500)
    ) {
      res
        .status(typeof status === "number" ? status : 400)
        .json({ error: "bad_request", message: (error as Error).message });
      return;
    }
    logger.error(
      { path: req.path, err: error instanceof Error ? error.stack : String(error) },
      "request failed",
    );
    res.status(500).json({ error: "internal", message: "internal error" });
  };
}
