import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { LoadedConfig } from "./config/load.ts";
import { connectBus, redactUrl, type Bus } from "./bus/connect.ts";
import { DEFAULT_MAX_PAYLOAD, EventPublisher } from "./bus/publisher.ts";
import { startLagSampler } from "./bus/lag.ts";
import { Spool } from "./bus/spool.ts";
import { ensureStreams } from "./bus/stream.ts";
import { isListening, startLocalNats, startLocalRedis, type LocalServer } from "./dev/local-servers.ts";
import { createApp, type Readiness } from "./ingress/app.ts";
import { listenHttp } from "./ingress/listen.ts";
import type { NotifyService } from "./notify/index.ts";
import type { Logger } from "./observability/logger.ts";
import { createMetrics, type Metrics } from "./observability/metrics.ts";
import { createStatusService } from "./status/index.ts";

/**
 * JetStream's answer when a stream or bucket asks for more copies than there are servers: a
 * single server names the replicas, a cluster only says "no suitable peers for placement".
 */
const REPLICAS = /replicas|no suitable peers/i;
const REPLICAS_HINT =
  " (status.replicas and nats.stream.replicas cannot exceed the number of NATS servers with JetStream that are up: 1 for a single nats-server)";

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

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
 * unreachable server is a clear startup error, and so is a local server that fails to start.
 */
async function ensureLocalServer(
  kind: "nats" | "redis",
  loaded: LoadedConfig,
  logger: Logger,
): Promise<LocalServer | null> {
  const { config } = loaded;
  // a cluster's seed list is never a development default, so the first entry is enough
  const url = new URL((kind === "nats" ? config.nats.url : config.redis.url).split(",")[0]?.trim() ?? "");
  const port = Number(url.port || (kind === "nats" ? 4222 : 6379));
  if (await isListening(url.hostname, port)) return null;
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
    throw new StartupError(
      `cannot reach ${service} at ${redactUrl(url.toString())}${why}; start it or set ${variable} (or ${setting}) to a running server`,
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

  let bus: Bus;
  try {
    const nats = await ensureLocalServer("nats", loaded, logger);
    if (nats) localServers.push(nats);
    // Redis carries only the Slack and e-mail deliveries: an ingress replica, or a gateway with
    // both channels off, neither needs it nor waits for it (a Redis outage must not stop one)
    if (needsRedis) {
      const redis = await ensureLocalServer("redis", loaded, logger);
      if (redis) localServers.push(redis);
    }
    try {
      bus = await connectBus(config.nats.url, logger);
    } catch (error) {
      throw new StartupError(
        `cannot connect to NATS at ${redactUrl(config.nats.url)}: ${(error as Error).message}`,
      );
    }
  } catch (error) {
    await stopLocal();
    throw error;
  }

  try {
    await ensureStreams(bus.jsm, config.nats.stream);
  } catch (error) {
    await bus.close();
    await stopLocal();
    const message = (error as Error).message;
    throw new StartupError(
      `JetStream is not usable at ${redactUrl(config.nats.url)}: ${message}${REPLICAS.test(message) ? REPLICAS_HINT : " (is nats-server running with -js?)"}`,
    );
  }
  // After a reconnect the server may be new (streams lost) or mid leader election (the check
  // fails for a while): re-assert the streams until it works. Publishing carries on meanwhile;
  // a publish that fails lands in the spool and is flushed once the stream answers again.
  let stopped = false;
  let reasserting = false;
  const reassertStreams = async (): Promise<void> => {
    if (reasserting) return;
    reasserting = true;
    try {
      for (let wait = 250; !stopped; wait = Math.min(wait * 2, 5000)) {
        try {
          await ensureStreams(bus.jsm, config.nats.stream);
          return;
        } catch (error) {
          logger.warn(
            { err: (error as Error).message, retryInMs: wait },
            "JetStream streams not confirmed yet",
          );
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    } finally {
      reasserting = false;
    }
  };
  bus.onReconnect(() => void reassertStreams());

  let spool: Spool | null = null;
  try {
    if (config.spool.enabled) spool = new Spool(join(config.spool.dir), config.spool.maxBytes);
  } catch (error) {
    await bus.close();
    await stopLocal();
    throw new StartupError(
      `cannot use the spool directory ${config.spool.dir}: ${(error as Error).message}; ` +
        "point spool.dir (or BUILDCAST_SPOOL_DIR) at a writable directory, e.g. a volume mounted there",
    );
  }
  const publisher = new EventPublisher({
    js: bus.js,
    connected: () => bus.connected(),
    timeoutMs: config.nats.publishTimeout,
    spool,
    logger,
    metrics,
    maxPayload: () => bus.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
  });
  publisher.startFlusher(config.spool.flushInterval);

  const deps = { nc: bus.nc, js: bus.js, jsm: bus.jsm, config, secrets, logger, metrics };
  const status = createStatusService({
    ...deps,
    consume: runConsumers,
    storeConnected: () => bus.connected(),
  });
  // loaded only where it runs: Slack, SMTP and bullmq/ioredis are ~20 MB an ingress never uses
  const notify: NotifyService = runConsumers
    ? (await import("./notify/index.ts")).createNotifyService(deps)
    : { start: () => Promise.resolve(), stop: () => Promise.resolve() };
  try {
    await status.start();
    await notify.start();
  } catch (error) {
    // stop what did start, the local nats-server and redis-server included: left running,
    // they would outlive this process and hold their ports
    await notify.stop().catch(() => undefined);
    await status.stop().catch(() => undefined);
    await publisher.stop();
    await bus.close();
    await stopLocal();
    const message = (error as Error).message;
    throw new StartupError(
      `cannot start the status store and notifiers: ${message}${REPLICAS.test(message) ? REPLICAS_HINT : ""}`,
    );
  }
  const lag = startLagSampler({ jsm: bus.jsm, stream: config.nats.stream.name, metrics });

  let draining = false;
  const readiness = (): Readiness => {
    const natsUp = bus.connected();
    const spoolOpen = spool !== null && spool.hasRoom();
    // Ready means "a webhook sent now will be stored": by JetStream, or by the spool while
    // JetStream is away — taking the pod out of rotation then would lose the events instead.
    const ready = !draining && (natsUp || spoolOpen);
    return {
      ready,
      checks: {
        nats: natsUp ? "connected" : "disconnected",
        stream: reasserting ? "re-checking" : "ready",
        spool:
          spool === null ? "disabled" : spoolOpen ? `accepting (${spool.stats().events} queued)` : "full",
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
    lag.stop();
    await notify.stop();
    await status.stop();
    await publisher.stop();
    await bus.close();
    await stopLocal();
    throw new StartupError(
      `cannot listen on ${config.server.host}:${config.server.port}: ${(error as Error).message}`,
    );
  }
  const address = server.address() as AddressInfo;
  const host =
    config.server.host === "0.0.0.0" || config.server.host === "::" ? "localhost" : config.server.host;
  const url = `http://${host}:${address.port}`;
  logger.info(
    { url, nats: redactUrl(config.nats.url), redis: redactUrl(config.redis.url) },
    "buildcast is listening",
  );

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      draining = true;
      stopped = true;
      lag.stop();
      // stop taking connections; in-flight requests finish, idle keep-alive sockets close
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // a dashboard's live feed never ends by itself: the server would wait for it until the
      // shutdown grace ran out, and consumers and workers would never stop in order
      status.endLiveFeeds();
      await serverClosed;
      await notify.stop();
      await status.stop();
      await publisher.stop();
      await bus.close();
      await stopLocal();
    })());

  return { url, server, bus, metrics, publisher, close };
}
