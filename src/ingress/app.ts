import type { RequestListener } from "node:http";
import express, { type ErrorRequestHandler, type Request, type Router } from "express";
import helmet from "helmet";
import proxyaddr from "proxy-addr";
import type { Config, Secrets } from "../config/schema.ts";
import type { EventEmitterLike } from "./publish-port.ts";
import type { Logger } from "../observability/logger.ts";
import type { Metrics } from "../observability/metrics.ts";
import { checkGithubHeaders, receiveGithub } from "./github.ts";
import { checkGitlabHeaders, receiveGitlab } from "./gitlab.ts";
import { createWebhookRoute, type Provider } from "./webhook-route.ts";

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

const WEBHOOK_PATHS: Readonly<Record<string, Provider>> = {
  "/webhooks/github": "github",
  "/webhooks/gitlab": "gitlab",
};

/**
 * The provider a POST is for, matched as express matches routes (any case, optional trailing
 * slash). A request target may also be in absolute form (`POST http://host/webhooks/github`),
 * which servers must accept (RFC 9112, 3.2.2): its path is what counts.
 */
function webhookProvider(url: string | undefined): Provider | undefined {
  let path = (url ?? "").split("?", 1)[0]?.toLowerCase() ?? "";
  if (!path.startsWith("/")) {
    const authority = path.indexOf("//");
    const slash = authority < 0 ? -1 : path.indexOf("/", authority + 2);
    path = slash < 0 ? "/" : path.slice(slash);
  }
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return WEBHOOK_PATHS[path];
}

/**
 * The security headers of a webhook answer: OWASP's set for REST APIs, as GitHub's own API
 * sends it. The answer is JSON for a CI system, never a document a browser renders, so
 * helmet's page headers (cross-origin isolation, referrer policy, DNS prefetch, download
 * options, …) protect nothing here, and each one is work on every webhook: the eight that go
 * cost about 5% of the gateway's instructions per webhook (callgrind). Everything else on the
 * app keeps helmet's full set.
 */
export const WEBHOOK_ANSWER_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
});

/**
 * The HTTP edge: webhooks in (node:http, see webhook-route.ts), health, metrics and the
 * mounted routers (express). One request listener for both.
 */
export function createApp(deps: AppDeps): RequestListener {
  const { config, secrets, logger, metrics } = deps;
  const security = helmet({
    contentSecurityPolicy: {
      directives: {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        // buildcast is often reached over plain HTTP on an internal address: upgrading its
        // own requests to https would break the dashboard's script, feed and sign-in there
        "upgrade-insecure-requests": null,
      },
    },
  });
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", config.server.trustProxy);
  app.use(security);

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
  if (config.role === "workers") {
    app.post(["/webhooks/github", "/webhooks/gitlab"], (_req, res) => {
      res.status(404).json({
        error: "not_found",
        message:
          'this buildcast process runs with role "workers" and takes no webhooks; send them to an ingress replica',
      });
    });
  }
  app.all(["/webhooks/github", "/webhooks/gitlab"], (req, res) => {
    res
      .set("Allow", "POST")
      .status(405)
      .json({ error: "method_not_allowed", message: `${req.method} is not allowed; webhooks are POSTed` });
  });

  // a provider's webhook anywhere else: its payload URL lacks the path (POST / is the
  // dashboard's sign-in, whose 303 a provider shows as a failed delivery that says nothing)
  app.use((req, res, next) => {
    const endpoint = req.method === "POST" ? webhookEndpointFor(req) : null;
    if (endpoint === null) {
      next();
      return;
    }
    res.status(404).json({
      error: "not_found",
      message: `no webhook endpoint at POST ${req.path}: send this webhook to ${endpoint}`,
    });
  });

  for (const router of deps.routers ?? []) app.use(router);

  app.use((req, res) => {
    res.status(404).json({ error: "not_found", message: `no route for ${req.method} ${req.path}` });
  });
  app.use(errorHandler(logger));

  const trust = app.get("trust proxy fn") as (address: string, hop: number) => boolean;
  const webhook =
    config.role === "workers"
      ? null
      : createWebhookRoute({
          config,
          publisher: deps.publisher,
          logger,
          metrics,
          receivers: {
            github: {
              check: (header) => checkGithubHeaders(header, secrets),
              receive: (request) => receiveGithub(request, secrets, { headersChecked: true }),
            },
            gitlab: {
              check: (header) => checkGitlabHeaders(header, secrets),
              receive: (request) => receiveGitlab(request, secrets, { headersChecked: true }),
            },
          },
          headers: WEBHOOK_ANSWER_HEADERS,
          // what express's req.ip is: proxy-addr with the app's compiled trust-proxy setting
          clientAddress: (req) => proxyaddr(req, trust),
        });
  return (req, res) => {
    const provider = webhook && req.method === "POST" ? webhookProvider(req.url) : undefined;
    if (provider && webhook) webhook(provider, req, res);
    else app(req, res);
  };
}

/** The endpoint a request carrying a provider's event header was meant for. */
function webhookEndpointFor(req: Request): string | null {
  if (req.get("x-github-event")) return "/webhooks/github";
  if (req.get("x-gitlab-event")) return "/webhooks/gitlab";
  return null;
}

/** Whatever escaped a handler, as JSON; never a stack to the client. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    // webhooks are read in webhook-route.ts; the one express route with a body is the
    // dashboard's sign-in form: what reaches here is a client error (a malformed URL, a
    // sign-in body over its limit, …) or a bug
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      res.status(status).json({ error: "bad_request", message: (error as Error).message });
      return;
    }
    logger.error(
      { path: req.path, err: error instanceof Error ? error.stack : String(error) },
      "request failed",
    );
    res.status(500).json({ error: "internal", message: "internal error" });
  };
}
