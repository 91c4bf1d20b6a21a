import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Redis } from "ioredis";
import { DependencyUnavailableError, startConsumer, type RunningConsumer } from "../bus/consume.ts";
import { clearOnReconnect } from "../bus/kv-cache.ts";
import type { Config, Secrets } from "../config/schema.ts";
import type { Logger } from "../observability/logger.ts";
import { countFromZero, type Metrics } from "../observability/metrics.ts";
import type { DeliveryChannel } from "./channels/channel.ts";
import { createEmailChannel } from "./channels/email.ts";
import { createSlackChannel } from "./channels/slack.ts";
import { notifyDurable } from "./durables.ts";
import { openNotifyBucket } from "./kv-state.ts";
import { trackCaches } from "./track.ts";
import { redactUrl } from "../bus/connect.ts";
import {
  probeRedis,
  producerConnection,
  redisConnection,
  redisRefusalHint,
  throttledErrorLog,
  type RedisAtShutdown,
} from "./queue.ts";

export interface NotifyDeps {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly config: Config;
  readonly secrets: Secrets;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface NotifyService {
  start(): Promise<void>;
  /** whether the delivery queues' Redis connection is up (true when no channel is on) */
  redisConnected(): boolean;
  /** the Slack channel's token check (slack-token-gate.ts), or null when Slack notices are off */
  slackHealth(): string | null;
  /**
   * stops pulling events, lets running deliveries finish until `deadline` (ms since the epoch;
   * then hands them back to wait), closes workers, queues and transports
   */
  stop(deadline?: number): Promise<void>;
}

/**
 * Slack and e-mail notices: one durable JetStream consumer per channel (notify-slack,
 * notify-email) turns build events into bullmq jobs; each channel's worker delivers them.
 * A channel whose credentials are missing is off, and the log says so once.
 */
export function createNotifyService(deps: NotifyDeps): NotifyService {
  const { config, secrets, logger, metrics } = deps;
  const log = logger.child({ component: "notify" });
  const channels: DeliveryChannel[] = [];
  const consumers: RunningConsumer[] = [];
  const connections: Array<ReturnType<typeof redisConnection>> = [];
  let gaugeTimer: NodeJS.Timeout | undefined;
  let queues: Redis | null = null;

  return {
    async start() {
      if (secrets.slackBotToken === null) log.info("Slack notices are off: SLACK_BOT_TOKEN is not set");
      if (secrets.smtpUrl === null) log.info("e-mail notices are off: SMTP_URL is not set");
      // a channel turned on that no route uses is warned of by the gateway (config/warnings.ts)
      if (secrets.slackBotToken === null && secrets.smtpUrl === null) return;

      // a wrong password or an untrusted certificate would otherwise leave a gateway that
      // reports ready, delivers nothing and cannot shut down (its workers never finish connecting)
      const probe = await probeRedis(config.redis.url);
      if (probe.outcome === "refused") {
        throw new Error(
          `Redis at ${redactUrl(config.redis.url)} refused this gateway: ${probe.reason}; ${redisRefusalHint(probe)}`,
        );
      }
      const onRedisError = throttledErrorLog((error) =>
        log.warn({ err: error.message }, "Redis unreachable; deliveries wait, events stay on the stream"),
      );
      const redis = redisConnection(config.redis.url, onRedisError);
      const producer = producerConnection(config.redis.url, onRedisError);
      connections.push(redis, producer);
      queues = producer;
      const kv = await openNotifyBucket(
        deps.js,
        deps.jsm,
        {
          bucket: config.notify.bucket,
          replicas: config.nats.stream.replicas,
          maxAgeMs: config.nats.stream.maxAge,
        },
        log,
      );
      const shared = { kv, connection: redis, producer, config, logger, metrics };
      const caches = { slack: trackCaches(), email: trackCaches() };
      clearOnReconnect(deps.nc, [
        caches.slack.lanes,
        caches.slack.records,
        caches.email.lanes,
        caches.email.records,
      ]);
      if (secrets.slackBotToken !== null)
        channels.push(createSlackChannel({ ...shared, token: secrets.slackBotToken, caches: caches.slack }));
      if (secrets.smtpUrl !== null)
        channels.push(createEmailChannel({ ...shared, smtpUrl: secrets.smtpUrl, caches: caches.email }));

      for (const channel of channels) {
        countFromZero(metrics, { channel: channel.name });
        channel.startWorker();
        consumers.push(
          await startConsumer({
            js: deps.js,
            jsm: deps.jsm,
            ...notifyDurable(channel.name, config),
            handleBatch: async (events, context) => {
              try {
                await channel.handle(events, context);
              } catch (error) {
                // Redis away is an outage, not a bad message: hold it rather than spend deliveries
                if (producer.status !== "ready") {
                  throw new DependencyUnavailableError(`Redis is unreachable (${producer.status})`, {
                    cause: error,
                  });
                }
                throw error;
              }
            },
            logger,
            metrics,
          }),
        );
        log.info({ channel: channel.name }, "notices on");
      }
      // the set also shrinks when an operator retries (CLI), so sample rather than count
      const sampleDeadLetters = (): void => {
        for (const channel of channels) {
          channel.deadLetterCount().then(
            (count) => metrics.deadLetters.set({ channel: channel.name }, count),
            () => undefined,
          );
        }
      };
      sampleDeadLetters();
      gaugeTimer = setInterval(sampleDeadLetters, 15_000);
      gaugeTimer.unref();
    },
    redisConnected: () => queues === null || queues.status === "ready",
    slackHealth: () => channels.find((channel) => channel.name === "slack")?.health?.() ?? null,
    async stop(deadline = Infinity) {
      clearInterval(gaugeTimer);
      await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
      // during a Redis outage, whether it began before the shutdown or during it, QUIT and
      // what bullmq would record wait for Redis (ioredis queues them until it reconnects), and
      // shutdown would hang until its grace ran out
      const producer = queues;
      const redis: RedisAtShutdown = {
        down: producer !== null && producer.status !== "ready",
        gone: new Promise((resolve) => {
          if (producer === null) return;
          if (producer.status !== "ready") resolve();
          else producer.once("close", () => resolve());
        }),
      };
      await Promise.all(channels.splice(0).map((channel) => channel.close(redis, deadline)));
      await Promise.all(
        connections.splice(0).map(async (connection) => {
          if (connection.status === "ready")
            await Promise.race([connection.quit().catch(() => undefined), redis.gone]);
          connection.disconnect();
        }),
      );
    },
  };
}
