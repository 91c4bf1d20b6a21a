import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { secretValues } from "../../src/config/secret-values.ts";
import { startGateway, type Gateway } from "../../src/gateway.ts";
import { createLogger, type Logger } from "../../src/observability/logger.ts";
import { startNats, startRedis, type TestServer } from "./servers.ts";
import { GITHUB_SECRET, GITLAB_TOKEN } from "./webhooks.ts";

export interface TestGateway {
  readonly url: string;
  readonly gateway: Gateway;
  readonly nats: TestServer;
  readonly redis: TestServer;
  /** every log line the gateway wrote */
  readonly logs: string[];
  readonly spoolDir: string;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  /** extra environment (SLACK_BOT_TOKEN, SLACK_API_URL, SMTP_URL, BUILDCAST_API_TOKEN, …) */
  readonly env?: Record<string, string>;
  /** config overrides merged last (routes, people, spool, …) */
  readonly overrides?: Record<string, unknown>;
  /** reuse servers (e.g. two gateways on one NATS) instead of starting private ones */
  readonly nats?: TestServer;
  readonly redis?: TestServer;
  readonly consumers?: boolean;
}

/** The whole gateway in-process on a free port, against private NATS and Redis servers. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const nats = options.nats ?? (await startNats());
  const redis = options.redis ?? (await startRedis());
  const spoolDir = mkdtempSync(join(tmpdir(), "buildcast-spool-"));
  const loaded = loadConfig({
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
      GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
      ...options.env,
    },
    overrides: {
      server: { host: "127.0.0.1", port: 0, shutdownGrace: 5000 },
      nats: { publishTimeout: 2000 },
      spool: { dir: spoolDir, flushInterval: 200 },
      dev: { startServers: false },
      log: { level: "debug" },
      ...options.overrides,
    },
  });
  const logs: string[] = [];
  const logger: Logger = createLogger({
    level: "debug",
    secrets: secretValues(loaded),
    write: (line) => logs.push(line),
  });
  const gateway = await startGateway(loaded, { logger, consumers: options.consumers ?? true });
  return {
    url: gateway.url,
    gateway,
    nats,
    redis,
    logs,
    spoolDir,
    close: async () => {
      await gateway.close();
      if (!options.nats) await nats.dispose();
      if (!options.redis) await redis.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}
