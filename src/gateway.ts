import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { LoadedConfig } from "./config/load.ts";
import { connectBus, redactUrl, type Bus } from "./bus/connect.ts";
import { DEFAULT_MAX_PAYLOAD, EventPublisher } from "./bus/publisher.ts";
import { startLagSampler } from "./bus/lag.ts";
import { Spool } from "./bus/spool.ts";
import { ensureStreams } from "./bus/stream.ts";
import { isListening, startLocalNats, startLocalRedis, type LocalServer } from "./dev/local-servers.ts";
import { createApp, type Readiness } from "./ingress/app.ts";
import { listenHttp } from "./ingress/listen.ts";
import { ensureNotifyDurables } from "./notify/durables.ts";
import type { NotifyService } from "./notify/index.ts";
import type { Logger } from "./observability/logger.ts";
import { ingressWarnings, routeWarnings, webhookSecretWarnings } from "./config/warnings.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { createStatusService } from "./status/index.ts";

/**
 * JetStream's answer when a stream or bucket asks for more copies than there are servers: a
 * single server names the replicas, a cluster only says "no suitable peers for placement".
 */
const REPLICAS = /replicas|no suitable peers/i;
const REPLICAS_HINT =
  " (status.replicas and nats.stream.replicas cannot exceed the number of NATS servers with JetStream that are up: 1 for a single nats-server)";
/** A JetStream error's message, with what to check when it is about replicas (or `otherwise`). */
const withReplicasHint = (error: unknown, otherwise = ""): string => {
  const message = (error as Error).message;
  return `${message}${REPLICAS.test(message) ? REPLICAS_HINT : otherwise}`;
};

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** Nothing answers at the NATS or Redis URL (as opposed to a server that refuses us). */
class UnreachableError extends StartupError {}

export interface Gateway {
  readonly url: string;
  readonly server: Server;
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly publisher: EventPublisher;
  /** readiness false, finish requests, stop consumers and deliveries, close connections */
  close(): Promise<void>;
}

export interface GatewayOptions {
  readonly logger: Logger;
  /** run the fan-out consumers in this process (default true) */
  readonly consumers?: boolean;
}

/**
 * When nothing listens at the built-in default URL in development, start the server ourselves;
 * with a URL the operator chose (environment or config file) or in production, never: then an
 * unreachable server is an UnreachableError (an outage the caller may ride out), and a local
 * server that fails to start a StartupError.
 */
async function ensureLocalServer(
  kind: "nats" | "redis",
  loaded: LoadedConfig,
  logger: Logger,
): Promise<LocalServer | null> {
  const { config } = loaded;
  // A cluster's seed list is reachable when any of its servers is: the client connects to
  // whichever answers (a node drained or down must not stop every replica that restarts)
  const urls = (kind === "nats" ? config.nats.url : config.redis.url)
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => new URL(part));
  const listening = await Promise.all(
    urls.map((each) => isListening(each.hostname, Number(each.port || (kind === "nats" ? 4222 : 6379)))),
  );
  if (listening.includes(true)) return null;
  // a seed list is never a development default, so the first entry is the one to start
  const url = urls[0] ?? new URL("");
  const explicit = kind === "nats" ? loaded.explicit.natsUrl : loaded.explicit.redisUrl;
  const service = kind === "nats" ? "NATS" : "Redis";
  const server = kind === "nats" ? "nats-server" : "redis-server";
  const variable = kind === "nats" ? "NATS_URL" : "REDIS_URL";
  const setting = kind === "nats" ? "nats.url" : "redis.url";
  if (loaded.production || explicit || !config.dev.startServers) {
    const why = loaded.production
      ? " (NODE_ENV=production never starts local servers)"
      : explicit && config.dev.startServers
        ? ` (a local ${server} is started only for the default URL)`
        : "";
    throw new UnreachableError(
      `cannot reach ${service} at ${urls.map((each) => redactUrl(each.toString())).join(",")}${why}; start it or set ${variable} (or ${setting}) to a running server`,
    );
  }
  try {
    return await (kind === "nats"
      ? startLocalNats(url, config.dev.dataDir, logger)
      : startLocalRedis(url, config.dev.dataDir, logger));
  } catch (error) {
    // nothing listened at the default URL, so this was the development convenience failing
    throw new StartupError(
      `nothing listens at ${redactUrl(url.toString())} and ${(error as Error).message}; ` +
        `start ${server} yourself (npm run setup installs it) or set ${variable} to a running server`,
    );
  }
}

/**
 * A first connection that failed for a reason a server coming back would not cure: it answered
 * and refused the credentials or the TLS setup, or runs without JetStream. That is a
 * configuration error; anything else (refused, timed out, not resolvable) is an outage.
 */
const MISCONFIGURED = /authori[sz]ation|authentication|permissions|tls|certificate|jetstream is not enabled/i;

/** What to change for a NATS that answered and refused: appended to the client's own words. */
function natsFix(message: string): string {
  if (/jetstream is not enabled/i.test(message)) {
    return (
      "; start nats-server with -js (or jetstream {} in its configuration), " +
      "or set NATS_URL (or nats.url) to a server with JetStream"
    );
  }
  if (/authori[sz]ation|authentication/i.test(message))
    return "; check the user and password or token in NATS_URL (or nats.url)";
  return "";
}

/**
 * What a shutdown keeps, of server.shutdownGrace, for handing unfinished deliveries back to
 * wait and closing the connections after them.
 */
const DELIVERIES_MARGIN_MS = 1000;

/** resolves after `ms`, or at once when `signal` aborts (shutdown must not wait out a backoff) */
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch(() => undefined);

/**
 * Without its secret a provider's webhooks are all answered 401 `not_configured`, which a
 * first `npm start` would otherwise only learn from the provider's delivery log.
 */
function logUnsetWebhookSecrets(secrets: LoadedConfig["secrets"], logger: Logger): void {
  const github = secrets.githubWebhookSecrets.length > 0;
  const gitlab = secrets.gitlabWebhookTokens.length > 0;
  if (!github && !gitlab) {
    logger.warn(
      "no webhook secret is set: every webhook will be refused (401 not_configured); " +
        "set GITHUB_WEBHOOK_SECRET and/or GITLAB_WEBHOOK_TOKEN",
    );
    return;
  }
  if (!github)
    logger.info("GitHub webhooks are refused (401 not_configured): GITHUB_WEBHOOK_SECRET is not set");
  if (!gitlab)
    logger.info("GitLab webhooks are refused (401 not_configured): GITLAB_WEBHOOK_TOKEN is not set");
}

export async function startGateway(loaded: LoadedConfig, options: GatewayOptions): Promise<Gateway> {
  const { config, secrets } = loaded;
  const logger = options.logger;
  const metrics = createMetrics();
  const localServers: LocalServer[] = [];
  const stopLocal = async (): Promise<void> => {
    await Promise.all(localServers.splice(0).map((server) => server.stop()));
  };

  // role "ingress" takes webhooks and serves the API but runs no consumers; "workers" runs the
  // consumers and serves the API but takes no webhooks; "all" (the default) does everything
  const runConsumers = (options.consumers ?? true) && config.role !== "ingress";
  const needsRedis = runConsumers && (secrets.slackBotToken !== null || secrets.smtpUrl !== null);

  let spool: Spool | null = null;
  try {
    if (config.spool.enabled) spool = new Spool(join(config.spool.dir), config.spool.maxBytes);
  } catch (error) {
    throw new StartupError(
      `cannot use the spool directory ${config.spool.dir}: ${(error as Error).message}; ` +
        "point spool.dir (or BUILDCAST_SPOOL_DIR) at a writable directory, e.g. a volume mounted there",
    );
  }

  // The connection, once there is one. With the spool on, a NATS that cannot be reached at
  // start is an outage like any other: webhooks go to the spool while the gateway connects in
  // the background — a replica restarted during an outage must not refuse every webhook (GitHub
  // does not redeliver by itself) while the replicas that happened to be running take them.
  let bus: Bus | null = null;
  /** why the first connection waits for the background, or null when it succeeded */
  let unreachable: string | null = null;
  // Likewise Redis, which only the Slack and e-mail deliveries use: a replica restarted during a
  // Redis outage takes webhooks and runs the status store, and starts its notifiers once Redis
  // answers; their events wait on the stream meanwhile.
  /** Redis answered (or is not needed); until then the notifiers wait */
  let redisReached = true;
  try {
    try {
      const nats = await ensureLocalServer("nats", loaded, logger);
      if (nats) localServers.push(nats);
    } catch (error) {
      if (!(spool && error instanceof UnreachableError)) throw error;
      unreachable = `cannot reach NATS at ${redactUrl(config.nats.url)}`;
    }
    // Redis carries only the Slack and e-mail deliveries: an ingress replica, or a gateway with
    // both channels off, neither needs it nor waits for it (a Redis outage must not stop one)
    if (needsRedis) {
      try {
        const redis = await ensureLocalServer("redis", loaded, logger);
        if (redis) localServers.push(redis);
      } catch (error) {
        if (!(error instanceof UnreachableError)) throw error;
        redisReached = false;
      }
    }
    if (unreachable === null) {
      try {
        bus = await connectBus(config.nats.url, logger);
      } catch (error) {
        const message = (error as Error).message;
        if (!spool || MISCONFIGURED.test(message))
          throw new StartupError(
            `cannot connect to NATS at ${redactUrl(config.nats.url)}: ${message}${natsFix(message)}`,
          );
        unreachable = `cannot connect to NATS at ${redactUrl(config.nats.url)}: ${message}`;
      }
    }
  } catch (error) {
    spool?.close();
    await stopLocal();
    throw error;
  }

  const warnOfDroppingLimits = (limits: readonly string[]): void => {
    if (limits.length === 0) return;
    logger.warn(
      { stream: config.nats.stream.name, limits },
      "the event stream has a size limit: once it is reached, JetStream drops the oldest events " +
        "whether or not the consumers have read them; remove it and bound the stream with " +
        "nats.stream.maxAge (docs/operations.md)",
    );
  };
  if (bus) {
    try {
      warnOfDroppingLimits(await ensureStreams(bus.jsm, config.nats.stream));
    } catch (error) {
      await bus.close();
      spool?.close();
      await stopLocal();
      throw new StartupError(
        `JetStream is not usable at ${redactUrl(config.nats.url)}: ${withReplicasHint(error, " (is nats-server running with -js?)")}`,
      );
    }
  }
  /** false until the streams were confirmed on the first connection */
  let streamsConfirmed = bus !== null;
  // After a reconnect the server may be new (streams lost) or mid leader election (the check
  // fails for a while): re-assert the streams until it works. Publishing carries on meanwhile;
  // a publish that fails lands in the spool and is flushed once the stream answers again.
  let stopped = false;
  const stopping = new AbortController();
  let reasserting = false;
  const reassertStreams = async (connection: Bus): Promise<void> => {
    if (reasserting) return;
    reasserting = true;
    try {
      for (let wait = 250; !stopped; wait = Math.min(wait * 2, 5000)) {
        try {
          const limits = await ensureStreams(connection.jsm, config.nats.stream);
          if (!streamsConfirmed) warnOfDroppingLimits(limits);
          return;
        } catch (error) {
          logger.warn(
            { err: withReplicasHint(error), retryInMs: wait },
            "JetStream streams not confirmed yet",
          );
          await sleep(wait, stopping.signal);
        }
      }
    } finally {
      reasserting = false;
    }
  };
  const connected = (): boolean => streamsConfirmed && bus !== null && bus.connected();
  if (bus) {
    const connection = bus;
    connection.onReconnect(() => void reassertStreams(connection));
  }

  const publisher = new EventPublisher({
    // read only while connected() is true, so only once there is a connection
    get js() {
      if (!bus) throw new Error("not connected to NATS yet");
      return bus.js;
    },
    connected,
    timeoutMs: config.nats.publishTimeout,
    spool,
    logger,
    metrics,
    maxPayload: () => bus?.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
  });
  publisher.startFlusher(config.spool.flushInterval);
  bus?.onDisconnect(() => publisher.connectionLost());

  const connection = (): Bus => {
    if (!bus) throw new Error("not connected to NATS yet");
    return bus;
  };
  // the status service is created now, so the app can mount its router (it answers 503 until
  // start() has loaded the view); it reaches for the connection only in start()
  const status = createStatusService({
    get nc() {
      return connection().nc;
    },
    get js() {
      return connection().js;
    },
    get jsm() {
      return connection().jsm;
    },
    config,
    secrets,
    logger,
    metrics,
    consume: runConsumers,
    storeConnected: () => bus !== null && bus.connected(),
  });
  let notify: NotifyService = {
    start: () => Promise.resolve(),
    redisConnected: () => false,
    slackHealth: () => null,
    stop: () => Promise.resolve(),
  };
  let notifyRunning = false;
  let notifyStarting: Promise<void> | null = null;
  /** whether Redis, once reached, refused this gateway since (for /readyz; the log says why) */
  let redisRefused = false;
  let lag = null as { stop(): void } | null;
  /** the connection the status store started on: the notifiers start on it once Redis answers */
  let consumersOn: Bus | null = null;
  /**
   * The notifiers, once both NATS (the status store started) and Redis are there; called when
   * either arrives, so whichever is last starts them. One start at a time; a failed one can be
   * tried again.
   */
  const startNotify = (): Promise<void> => {
    const ready = consumersOn;
    if (!runConsumers || notifyRunning || !redisReached || ready === null) return Promise.resolve();
    return (notifyStarting ??= (async () => {
      const deps = { nc: ready.nc, js: ready.js, jsm: ready.jsm, config, secrets, logger, metrics };
      // loaded only where it runs: Slack, SMTP and bullmq/ioredis are ~20 MB an ingress never uses
      const service = (await import("./notify/index.ts")).createNotifyService(deps);
      try {
        await service.start();
      } catch (error) {
        await service.stop().catch(() => undefined);
        throw error;
      }
      notify = service;
      notifyRunning = true;
    })().finally(() => {
      notifyStarting = null;
    }));
  };
  /** the status store, the notifiers and the lag sampler: what needs a connection to start */
  // each part can be tried again after a failure (status.start undoes itself when it fails)
  let statusStarted = false;
  const startConsumers = async (ready: Bus): Promise<void> => {
    if (!statusStarted) await status.start();
    statusStarted = true;
    // Redis not reached yet: the notifiers' durables are made now, so events wait on them
    // however long Redis takes (a durable made later starts notify.lookback back) and their
    // lag shows in buildcast_consumer_pending_messages
    if (runConsumers && !redisReached) await ensureNotifyDurables(ready.jsm, config, secrets);
    lag ??= startLagSampler({ jsm: ready.jsm, stream: config.nats.stream.name, metrics });
    consumersOn = ready;
    await startNotify();
  };

  if (bus) {
    try {
      await startConsumers(bus);
    } catch (error) {
      // stop what did start, the local nats-server and redis-server included: left running,
      // they would outlive this process and hold their ports
      lag?.stop();
      await status.stop().catch(() => undefined);
      await publisher.stop();
      await bus.close();
      await stopLocal();
      throw new StartupError(`cannot start the status store and notifiers: ${withReplicasHint(error)}`);
    }
  }

  if (unreachable !== null)
    logger.warn(
      { spool: config.spool.dir },
      `${unreachable}; taking webhooks into the spool and connecting in the background`,
    );
  if (!redisReached)
    logger.warn(
      { redis: redactUrl(config.redis.url) },
      `cannot reach Redis at ${redactUrl(config.redis.url)}; Slack and e-mail notices start once it answers ` +
        "(their events wait on the stream), webhooks and the status store work meanwhile",
    );

  const redisCheck = (): string => {
    if (notifyRunning) return notify.redisConnected() ? "connected" : "disconnected (deliveries wait)";
    if (redisRefused) return "refused this gateway (see the log); notices wait";
    if (!redisReached) return "unreachable; notices start once it answers";
    return "reachable; notices start with the consumers";
  };
  const slackCheck = (): string =>
    notify.slackHealth() ?? (redisReached ? "starts with the notices" : "starts once Redis answers");
  let draining = false;
  const readiness = (): Readiness => {
    const natsUp = bus !== null && bus.connected();
    const spoolOpen = spool !== null && spool.hasRoom();
    // Ready means "a webhook sent now will be stored": by JetStream, or by the spool while
    // JetStream is away — taking the pod out of rotation then would lose the events instead.
    // (a JetStream that left a publish unanswered stores nothing now, connected or not)
    const ready = !draining && ((connected() && !publisher.unanswered()) || spoolOpen);
    return {
      ready,
      checks: {
        nats: natsUp ? "connected" : "disconnected",
        stream:
          bus === null
            ? "waiting for NATS"
            : reasserting || !streamsConfirmed
              ? "re-checking"
              : publisher.unanswered()
                ? "not answering; webhooks go to the spool"
                : publisher.storageFull() !== null
                  ? `full (${publisher.storageFull()}); webhooks ${spoolOpen ? "go to the spool" : "are answered 503"}`
                  : "ready",
        spool:
          spool === null ? "disabled" : spoolOpen ? `accepting (${spool.stats().events} queued)` : "full",
        // Not part of ready, in any role: webhooks, the API and the dashboard never use Redis, and
        // consumers pull from JetStream, so out of rotation a replica would route no notice
        // elsewhere (every replica shares the one Redis) but would stall rollouts and hide the API
        ...(needsRedis ? { redis: redisCheck() } : {}),
        // Not part of ready either: a token Slack refuses stops only Slack notices, which wait
        // for it; webhooks, the status store and e-mail do not need Slack
        ...(runConsumers && secrets.slackBotToken !== null ? { slack: slackCheck() } : {}),
        ...(draining ? { lifecycle: "draining" } : {}),
      },
    };
  };

  const app = createApp({ config, secrets, publisher, readiness, logger, metrics, routers: [status.router] });
  let server: Server;
  try {
    server = await listenHttp(app, {
      host: config.server.host,
      port: config.server.port,
      requestTimeout: config.server.requestTimeout,
    });
  } catch (error) {
    stopped = true;
    stopping.abort();
    lag?.stop();
    await notify.stop();
    await status.stop();
    await publisher.stop();
    await bus?.close();
    await stopLocal();
    const code = (error as NodeJS.ErrnoException).code;
    const fix =
      code === "EADDRINUSE"
        ? "; another process listens there: stop it, or set PORT (or server.port) to a free port"
        : code === "EACCES"
          ? "; ports below 1024 need privileges: set PORT (or server.port) to 1024 or above"
          : code === "EADDRNOTAVAIL"
            ? "; no interface has that address: set HOST (or server.host), e.g. 0.0.0.0"
            : "";
    throw new StartupError(
      `cannot listen on ${config.server.host}:${config.server.port}: ${(error as Error).message}${fix}`,
    );
  }
  const address = server.address() as AddressInfo;
  const host =
    config.server.host === "0.0.0.0" || config.server.host === "::" ? "localhost" : config.server.host;
  const url = `http://${host}:${address.port}`;
  logger.info(
    // Redis only when used: with Slack and e-mail off nothing connects to it
    { url, nats: redactUrl(config.nats.url), ...(needsRedis ? { redis: redactUrl(config.redis.url) } : {}) },
    "buildcast is listening",
  );
  if (config.role !== "workers") {
    logUnsetWebhookSecrets(secrets, logger);
    for (const warning of [...ingressWarnings(config), ...webhookSecretWarnings(secrets)])
      logger.warn(warning);
  }
  // what `config check` warns of, for the replicas that deliver: a token with no route to use it
  if (runConsumers) for (const warning of routeWarnings(config, secrets)) logger.warn(warning);

  /** Runs `start` until it succeeds or the gateway stops, backing off from 1 s to 30 s. */
  const keepStarting = async (
    start: () => Promise<void>,
    failure: string,
    reason: (error: unknown) => string,
  ): Promise<void> => {
    for (let wait = 1000; !stopped; wait = Math.min(wait * 2, 30_000)) {
      try {
        await start();
        return;
      } catch (error) {
        logger.error({ err: reason(error), retryInMs: wait }, failure);
        await sleep(wait, stopping.signal);
      }
    }
  };

  /**
   * The first connection, made in the background: retried like a lost one (every second),
   * then the streams are ensured, the consumers started, and the flusher republishes the spool.
   */
  const connectInBackground = async (): Promise<void> => {
    let lastError: string | null = null;
    while (!stopped && !bus) {
      try {
        const made = await connectBus(config.nats.url, logger);
        if (stopped) {
          await made.close();
          return;
        }
        bus = made;
      } catch (error) {
        const message = (error as Error).message;
        // once per kind of failure, not once a second; the first was logged as the start's
        if (lastError === null ? MISCONFIGURED.test(message) : message !== lastError)
          (MISCONFIGURED.test(message) ? logger.error : logger.warn).call(
            logger,
            { nats: redactUrl(config.nats.url), err: `${message}${natsFix(message)}` },
            "still cannot connect to NATS; webhooks go to the spool",
          );
        lastError = message;
        await sleep(1000, stopping.signal);
      }
    }
    if (!bus) return;
    const made = bus;
    logger.info({ nats: redactUrl(config.nats.url) }, "connected to NATS");
    made.onReconnect(() => void reassertStreams(made));
    made.onDisconnect(() => publisher.connectionLost());
    await reassertStreams(made);
    if (stopped) return;
    streamsConfirmed = true;
    void publisher.flush();
    await keepStarting(
      () => startConsumers(made),
      "cannot start the status store and notifiers yet",
      withReplicasHint,
    );
  };
  const background = unreachable === null ? Promise.resolve() : connectInBackground();

  /**
   * Redis, unreachable at start: probed with back-off until it answers, then the notifiers
   * start (if the status store has, on NATS; otherwise they start with it).
   */
  const connectRedisInBackground = async (): Promise<void> => {
    const { probeRedis, redisRefusalHint } = await import("./notify/queue.ts");
    let lastReason: string | null = null;
    for (let wait = 1000; !stopped && !redisReached; wait = Math.min(wait * 2, 10_000)) {
      const probe = await probeRedis(config.redis.url, stopping.signal);
      if (stopped) return;
      if (probe.outcome === "ready") {
        redisReached = true;
        break;
      }
      redisRefused = probe.outcome === "refused";
      // once per kind of failure; the first unreachable one was logged as the start's
      if (probe.reason !== lastReason && (lastReason !== null || probe.outcome === "refused")) {
        if (probe.outcome === "refused")
          logger.error(
            { redis: redactUrl(config.redis.url), err: probe.reason },
            `Redis refused this gateway; Slack and e-mail notices wait: ${redisRefusalHint(probe)}`,
          );
        else
          logger.warn(
            { redis: redactUrl(config.redis.url), err: probe.reason },
            "still cannot reach Redis; Slack and e-mail notices wait",
          );
      }
      lastReason = probe.reason;
      await sleep(wait, stopping.signal);
    }
    if (stopped) return;
    redisRefused = false;
    logger.info({ redis: redactUrl(config.redis.url) }, "connected to Redis");
    await keepStarting(startNotify, "cannot start the Slack and e-mail notices yet", (error) =>
      error instanceof Error ? error.message : String(error),
    );
  };
  const redisBackground = redisReached ? Promise.resolve() : connectRedisInBackground();

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      // deliveries still running by then go back to wait before the signal handler's exit
      // (run-gateway.ts, shutdownGrace after it called this) would leave them active
      const deliveriesDeadline = Date.now() + config.server.shutdownGrace - DELIVERIES_MARGIN_MS;
      draining = true;
      stopped = true;
      stopping.abort();
      lag?.stop();
      // stop taking connections; in-flight requests finish, idle keep-alive sockets close
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // a dashboard's live feed never ends by itself: the server would wait for it until the
      // shutdown grace ran out, and consumers and workers would never stop in order
      status.endLiveFeeds();
      await serverClosed;
      // a connection attempt in flight ends within its 5 s timeout, a wait within seconds
      await background;
      await redisBackground;
      lag?.stop();
      await notify.stop(deliveriesDeadline);
      await status.stop();
      await publisher.stop();
      await bus?.close();
      await stopLocal();
    })());

  return {
    url,
    server,
    get bus() {
      return connection();
    },
    metrics,
    publisher,
    close,
  };
}
