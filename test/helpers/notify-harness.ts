import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig, type LoadedConfig } from "../../src/config/load.ts";
import { createNotifyService, type NotifyService } from "../../src/notify/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics, type Metrics } from "../../src/observability/metrics.ts";
import { startNats, startRedis, type TestServer } from "./servers.ts";
import { startSlackServer, type SlackServer } from "./slack-server.ts";

export interface NotifyHarness {
  readonly bus: Bus;
  readonly nats: TestServer;
  readonly redis: TestServer;
  readonly loaded: LoadedConfig;
  readonly service: NotifyService;
  readonly metrics: Metrics;
  readonly logs: string[];
  close(): Promise<void>;
}

/** The notify service alone, against private NATS and Redis servers, with the given env and config. */
export async function startNotifyHarness(
  env: Record<string, string>,
  overrides: Record<string, unknown>,
): Promise<NotifyHarness> {
  const nats = await startNats();
  const redis = await startRedis();
  const loaded = loadConfig({
    env: { NATS_URL: nats.url, REDIS_URL: redis.url, ...env },
    overrides: { dev: { startServers: false }, ...overrides },
  });
  const logs: string[] = [];
  const logger = createLogger({ level: "debug", secrets: [], write: (line) => logs.push(line) });
  const bus = await connectBus(nats.url, logger);
  await ensureStreams(bus.jsm, loaded.config.nats.stream);
  const metrics = createMetrics();
  const service = createNotifyService({
    ...bus,
    config: loaded.config,
    secrets: loaded.secrets,
    logger,
    metrics,
  });
  await service.start();
  return {
    bus,
    nats,
    redis,
    loaded,
    service,
    metrics,
    logs,
    close: async () => {
      await service.stop();
      await bus.close();
      await nats.dispose();
      await redis.dispose();
    },
  };
}

/** The Slack channel startSlackRoutes gives a test's route. */
export const slackChannelOf = (test: string): string => `C${test.toUpperCase()}`;

/**
 * A local Slack Web API and the notify service with one route per test name: repository
 * `acme/<test>` on main, on failed, still_failing and fixed, to channel `slackChannelOf(test)`.
 */
export async function startSlackRoutes(
  tests: readonly string[],
  options: {
    /** more settings of each route's Slack target (mentionAuthor, threadFailures) */
    readonly target?: Record<string, unknown>;
    readonly slack: { readonly minInterval: number; readonly timeout: number };
    readonly delivery: { readonly attempts: number; readonly backoff: number; readonly concurrency: number };
    readonly people?: readonly Record<string, string>[];
  },
): Promise<{ slack: SlackServer; harness: NotifyHarness }> {
  const slack = await startSlackServer();
  const harness = await startNotifyHarness(
    { SLACK_BOT_TOKEN: "xoxb-test-token", SLACK_API_URL: slack.apiUrl },
    {
      ...(options.people ? { people: options.people } : {}),
      routes: tests.map((test) => ({
        name: test,
        match: { repositories: [`acme/${test}`], branches: ["main"] },
        on: ["failed", "still_failing", "fixed"],
        slack: { channel: slackChannelOf(test), ...options.target },
      })),
      notify: { slack: { apiUrl: slack.apiUrl, ...options.slack }, delivery: options.delivery },
    },
  );
  return { slack, harness };
}

export { eventually, sleep } from "./poll.ts";
