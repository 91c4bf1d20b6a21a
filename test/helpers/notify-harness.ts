import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { ensureStreams } from "../../src/bus/stream.ts";
import { loadConfig, type LoadedConfig } from "../../src/config/load.ts";
import { createNotifyService, type NotifyService } from "../../src/notify/index.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics, type Metrics } from "../../src/observability/metrics.ts";
import { startNats, startRedis, type TestServer } from "./servers.ts";

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

export { eventually, sleep } from "./poll.ts";
