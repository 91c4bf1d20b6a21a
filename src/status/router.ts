import { readFileSync } from "node:fs";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import {
  endedSessionCookie,
  isAuthorized,
  offeredCredentials,
  queryToken,
  same,
  sessionCookie,
} from "./auth.ts";
import { renderBadge } from "./badge.ts";
import { answerMemory, sendBusy, sendCompressible, sendJson } from "./compress.ts";
import { renderLoginPage, renderPage } from "./dashboard/page.ts";
import { FRESH, PRIVATE_FRESH, REFUSED } from "./cache.ts";
import {
  BadParameterError,
  checkQueryEncoding,
  idParam,
  limitParam,
  nameParam,
  onlyParams,
  providerParam,
  providerValue,
} from "./params.ts";
import { branchStatus, dashboardRows, recentRuns } from "./queries.ts";
import { runDetail, type RunLocator } from "./run-detail.ts";
import { withWebLinks } from "./summary.ts";
import { MAX_CATCH_UP_ROWS, type SseHub } from "./sse.ts";
import { createTokenAttempts, type TokenAttemptLimit } from "./token-attempts.ts";
import type { StatusView } from "./view.ts";
import type { Logger } from "../observability/logger.ts";

const CLIENT_JS = readFileSync(new URL("./dashboard/client.js", import.meta.url), "utf8");
/** A green dot on a dark tile: build status. */
const FAVICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1c2430"/><circle cx="16" cy="16" r="8" fill="#3fb950"/></svg>';
const READ_ONLY_PATHS = [
  "/api/v1/status",
  "/api/v1/runs",
  "/api/v1/runs/:provider/:runId",
  "/api/v1/events",
  "/badge.svg",
];
export const MAX_RUNS_LIMIT = 100;
/**
 * Answers (pages, scripts, JSON) handed to clients that have not read them yet, at most: a
 * client that asks for the dashboard uncompressed and never reads leaves it in the gateway, and
 * a hundred of them took one from 200 MB to 700 MB. Readers that read take their answer in
 * milliseconds, and a gzipped dashboard is a few hundred KB.
 */
export const ANSWER_MEMORY = 64 * 1024 * 1024;
/** How long a rendered dashboard is served again (see dashboardPage). */
const PAGE_REUSE_MS = 1000;
const DEFAULT_RUNS_LIMIT = 20;

export interface RouterDeps {
  readonly view: StatusView;
  readonly locateRun: RunLocator;
  readonly sse: SseHub;
  readonly apiToken: string | null;
  /** wrong tokens per client address in a window (server.authRateLimit) */
  readonly authRateLimit?: TokenAttemptLimit;
  readonly now?: () => number;
  /** false until the view has loaded: answer 503 rather than a misleading 404 */
  readonly ready?: () => boolean;
  readonly logger?: Logger;
  /** bytes of answers handed to clients and not yet taken by them, at most (ANSWER_MEMORY) */
  readonly answerMemory?: number;
}

const query = (req: Request): Readonly<Record<string, unknown>> => req.query;

const decodes = (part: string): boolean => {
  try {
    decodeURIComponent(part);
    return true;
  } catch {
    return false;
  }
};

/** The dashboard's address with the request's query (a shared view's filters), minus `token`. */
function pageAddress(req: Request, base: string): string {
  const rest = new URLSearchParams();
  for (const [key, value] of Object.entries(query(req))) {
    if (key !== "token" && typeof value === "string") rest.append(key, value);
  }
  const kept = rest.toString();
  return kept ? `${base}?${kept}` : base;
}

/** The sign-in form's fields: a token and nothing else, so a few hundred bytes at most. */
const signInBody = express.urlencoded({ extended: false, limit: "4kb", parameterLimit: 5 });

/** server.authRateLimit's default, for routers built without a config (tests) */
const DEFAULT_AUTH_RATE_LIMIT: TokenAttemptLimit = { window: 15 * 60_000, max: 30 };
const WRONG_TOKEN = "That token is not valid.";
const tooManyTokens = (retryAfter: number): string =>
  `Too many wrong tokens from this address: try again in ${retryAfter} s.`;

/**
 * A form post from the dashboard itself: browsers say so in Sec-Fetch-Site (same-origin; none
 * when typed or bookmarked), and older ones send an Origin that names this host. A sibling
 * subdomain (same-site) is another site here.
 */
function fromOwnPage(req: Request): boolean {
  const site = req.get("sec-fetch-site");
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = req.get("origin");
  if (origin === undefined || origin === "null") return origin === undefined;
  return URL.canParse(origin) && new URL(origin).host === req.get("host");
}

export function createStatusRouter(deps: RouterDeps): Router {
  const router = express.Router();
  const now = deps.now ?? Date.now;
  const token = deps.apiToken;
  const ready = deps.ready ?? (() => true);
  // what the answers behind the guard may be kept as: by anyone while the API is open
  const answerCache = token === null ? FRESH : PRIVATE_FRESH;
  const notFound = (res: Response, message: string): void => {
    res.status(404).set("Cache-Control", answerCache).json({ error: "not_found", message });
  };
  const unread = answerMemory(deps.answerMemory ?? ANSWER_MEMORY);
  /** the dashboard's size when last rendered, uncompressed */
  let lastPageBytes = 0;
  let rendered: {
    readonly at: number;
    readonly base: string;
    readonly revision: number;
    readonly page: string;
  } | null = null;
  /**
   * The dashboard, rendered at most once per PAGE_REUSE_MS: rendering reads every row and holds
   * the event loop (some 100 ms for 3,000 rows), so clients loading the page over and over
   * made webhooks wait seconds for their answer. A page up to that old is as good as a new
   * one: its live feed catches up from the revision it was rendered at. Unless more changed
   * since than a feed catches up on: that feed would have it reload, into the same page.
   */
  const dashboardPage = (base: string): string => {
    const at = performance.now();
    if (
      rendered !== null &&
      rendered.base === base &&
      at - rendered.at < PAGE_REUSE_MS &&
      deps.view.changedSince(rendered.revision).length <= MAX_CATCH_UP_ROWS
    ) {
      return rendered.page;
    }
    const rows = dashboardRows(deps.view.states());
    const revision = deps.view.revision();
    const page = renderPage({ rows, now: now(), revision, base, signOut: token !== null });
    rendered = { at, base, revision, page };
    lastPageBytes = page.length;
    return page;
  };
  const attempts = createTokenAttempts({
    ...(deps.authRateLimit ?? DEFAULT_AUTH_RATE_LIMIT),
    // an operator asked why an office is locked out needs a line to find
    onLocked: (client, seconds) =>
      deps.logger?.warn(
        { client, retryAfterS: seconds },
        "too many wrong API tokens from one client: its requests with a token are refused (429) until the window ends",
      ),
  });

  const signInPage = (req: Request, res: Response, base: string, notice: string | null): void => {
    res
      .status(401)
      .type("html")
      .set("Cache-Control", "no-store")
      .send(renderLoginPage(pageAddress(req, base), notice, base));
  };

  /** The sign-in form again, 429: this address offered too many wrong tokens of late. */
  const signInRefused = (req: Request, res: Response, base: string, retryAfter: number): void => {
    res
      .status(429)
      .type("html")
      .set({ "Cache-Control": "no-store", "Retry-After": String(retryAfter) })
      .send(renderLoginPage(pageAddress(req, base), tooManyTokens(retryAfter), base));
  };

  const starting = (res: Response): void => {
    res
      .status(503)
      .set({ "Retry-After": "1", "Cache-Control": FRESH })
      .json({ error: "starting", message: "the status store is starting" });
  };

  router.get("/dashboard.js", async (req, res) => {
    res.type("text/javascript").set("Cache-Control", "no-cache");
    await sendCompressible(req, res, CLIENT_JS, unread);
  });

  // public, like the script: it holds no data
  router.get("/favicon.svg", (_req, res) => {
    res.type("image/svg+xml").set("Cache-Control", "public, max-age=86400").send(FAVICON);
  });

  router.get("/", async (req, res) => {
    if (!ready()) return starting(res);
    const base = req.baseUrl || "/";
    if (token !== null) {
      const offered = queryToken(req);
      const attempt = offeredCredentials(req);
      const refused = attempt === null ? null : attempts.refusedFor(req.ip);
      if (refused !== null) return signInRefused(req, res, base, refused);
      if (!isAuthorized(req, token, now())) {
        if (attempt !== null) attempts.failed(req.ip, attempt);
        signInPage(req, res, base, offered === null ? null : WRONG_TOKEN);
        return;
      }
      if (offered !== null) {
        // trade the token in the address bar (a link from chat) for a cookie, then drop it
        // from the URL and history; the rest of the query (a shared view's filters) stays
        res
          .set("Set-Cookie", sessionCookie(token, base, req.secure, now()))
          .redirect(303, pageAddress(req, base));
        return;
      }
    }
    // rendering every row is the cost: a page that would not fit now (as large as the last) is not made
    if (unread.full(lastPageBytes)) return sendBusy(res);
    res.type("html").set("Cache-Control", "no-store");
    await sendCompressible(req, res, dashboardPage(base), unread);
  });

  // the session cookie is stateless, so signing out is the browser dropping it: on a shared
  // machine that ends the session there. Another site may not sign a reader out.
  router.post("/signout", (req, res) => {
    if (!fromOwnPage(req)) {
      res.status(403).set("Cache-Control", FRESH).json({
        error: "forbidden",
        message: "sign-out is only taken from the dashboard's own pages",
      });
      return;
    }
    const base = req.baseUrl || "/";
    res.set("Set-Cookie", endedSessionCookie(base, req.secure)).redirect(303, base);
  });

  // the sign-in form: the token in the body, the view's filters in the address
  router.post("/", signInBody, (req, res) => {
    if (!ready()) return starting(res);
    const base = req.baseUrl || "/";
    const offered = (req.body as Record<string, unknown> | undefined)?.token;
    if (token !== null) {
      const refused = attempts.refusedFor(req.ip);
      if (refused !== null) return signInRefused(req, res, base, refused);
    }
    if (token !== null && (typeof offered !== "string" || !same(offered, token))) {
      attempts.failed(req.ip, typeof offered === "string" ? offered : "");
      signInPage(req, res, base, WRONG_TOKEN);
      return;
    }
    if (token !== null) res.set("Set-Cookie", sessionCookie(token, base, req.secure, now()));
    res.redirect(303, pageAddress(req, base));
  });
  router.use("/", (error: unknown, req: Request, res: Response, next: NextFunction) => {
    const status = (error as { status?: unknown }).status;
    if (req.method !== "POST" || req.path !== "/" || status !== 413) return next(error);
    const tooMany = (error as { type?: unknown }).type === "parameters.too.many";
    res.status(413).json({
      error: "payload_too_large",
      message: tooMany ? "the sign-in form has more than 5 fields" : "the sign-in form's body is over 4 KB",
    });
  });

  // per route, not router.use: the app mounts this router at / next to the webhook routes
  const guard = (req: Request, res: Response, next: NextFunction): void => {
    if (!ready()) return starting(res);
    checkQueryEncoding(req.originalUrl);
    if (token === null) return next();
    const attempt = offeredCredentials(req);
    const refused = attempt === null ? null : attempts.refusedFor(req.ip);
    if (refused !== null) {
      res
        .status(429)
        .set({ "Retry-After": String(refused), "Cache-Control": REFUSED })
        .json({ error: "too_many_attempts", message: tooManyTokens(refused) });
      return;
    }
    if (isAuthorized(req, token, now())) return next();
    if (attempt !== null) attempts.failed(req.ip, attempt);
    res.status(401).set({ "WWW-Authenticate": 'Bearer realm="buildcast"', "Cache-Control": REFUSED }).json({
      error: "unauthorized",
      message: "a valid API token is required (Authorization: Bearer <token>)",
    });
  };

  router.get("/badge.svg", guard, (req, res) => {
    const q = query(req);
    const repository = nameParam(q, "repository", true);
    const branch = nameParam(q, "branch", true);
    const pipeline = nameParam(q, "pipeline", false);
    const provider = providerParam(q);
    const label = nameParam(q, "label", false) ?? pipeline ?? "build";
    const answer = branchStatus([...deps.view.forRepository(repository)], {
      repository,
      branch,
      provider,
      pipeline,
    });
    // an unknown branch still gets an image: a README must never show a broken one
    const state = answer.found ? answer.value.state : "unknown";
    res
      .status(200)
      .type("image/svg+xml")
      // badges are embedded by other sites (GitLab project badges, wikis, portals): helmet's
      // same-origin resource policy would make browsers refuse them there
      .set({ "Cache-Control": answerCache, "Cross-Origin-Resource-Policy": "cross-origin" })
      .send(renderBadge(label, state));
  });

  router.get("/api/v1/status", guard, async (req, res) => {
    const q = query(req);
    onlyParams(q, ["repository", "branch", "provider"]);
    const repository = nameParam(q, "repository", true);
    const branch = nameParam(q, "branch", true);
    const provider = providerParam(q);
    const answer = branchStatus(deps.view.forRepository(repository), { repository, branch, provider });
    if (!answer.found) return notFound(res, answer.message);
    const pipelines = answer.value.pipelines.map((p) => ({ ...p, run: withWebLinks(p.run) }));
    res.set("Cache-Control", answerCache);
    await sendJson(req, res, { ...answer.value, pipelines }, unread);
  });

  router.get("/api/v1/runs", guard, async (req, res) => {
    const q = query(req);
    onlyParams(q, ["repository", "branch", "pipeline", "provider", "limit"]);
    const repository = nameParam(q, "repository", true);
    const branch = nameParam(q, "branch", false);
    const pipeline = nameParam(q, "pipeline", false);
    const provider = providerParam(q);
    const limit = limitParam(q, DEFAULT_RUNS_LIMIT, MAX_RUNS_LIMIT);
    const answer = recentRuns(deps.view.forRepository(repository), {
      repository,
      branch,
      pipeline,
      provider,
      limit,
    });
    if (!answer.found) return notFound(res, answer.message);
    res.set("Cache-Control", answerCache);
    await sendJson(
      req,
      res,
      { repository, branch, pipeline, provider, runs: answer.value.map(withWebLinks) },
      unread,
    );
  });

  router.get("/api/v1/runs/:provider/:runId", guard, async (req, res) => {
    onlyParams(query(req), []);
    const provider = providerValue(String(req.params.provider));
    const runId = idParam(String(req.params.runId), "runId");
    let found: Awaited<ReturnType<RunLocator>>;
    try {
      found = await deps.locateRun(provider, runId);
    } catch (error) {
      // a run not in the in-memory view is read from KV: NATS may be away or slow
      deps.logger?.warn({ err: error instanceof Error ? error.message : String(error) }, "run lookup failed");
      res
        .status(503)
        .set({ "Retry-After": "5", "Cache-Control": answerCache })
        .json({ error: "unavailable", message: "the status store did not answer; retry shortly" });
      return;
    }
    if (!found) return notFound(res, `unknown run: ${provider} ${runId}`);
    res.set("Cache-Control", answerCache);
    await sendJson(req, res, runDetail(found.run, found.revision), unread);
  });

  router.get("/api/v1/events", guard, (req, res) => {
    onlyParams(query(req), ["since"]);
    deps.sse.handle(req, res);
  });

  // the read-only paths exist whatever the method: a script that POSTs to one is told what
  // they take (RFC 9110, 15.5.6), not that there is no such path
  router.all(READ_ONLY_PATHS, (req, res) => {
    res.set("Allow", "GET, HEAD");
    if (req.method === "OPTIONS") {
      res.status(204).end();
      return;
    }
    res
      .status(405)
      .set("Cache-Control", FRESH)
      .json({
        error: "method_not_allowed",
        message: `${req.method} is not allowed here; the status API is read with GET`,
      });
  });

  // express decodes path parameters before any handler runs, and one that is not UTF-8 fails
  // there: it is a bad parameter like any other, named
  router.use("/api/v1/runs", (error: unknown, req: Request, _res: Response, next: NextFunction) => {
    if (!(error instanceof URIError)) return next(error);
    const provider = req.path.split("/").find((part) => part !== "") ?? "";
    const parameter = decodes(provider) ? "runId" : "provider";
    next(new BadParameterError(parameter, `${parameter} is not percent-encoded UTF-8`));
  });

  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof BadParameterError) {
      res
        .status(400)
        .set("Cache-Control", answerCache)
        .json({ error: "bad_request", parameter: error.parameter, message: error.message });
      return;
    }
    next(error);
  });

  return router;
}
