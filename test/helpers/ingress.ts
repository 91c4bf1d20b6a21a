import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "../../src/config/load.ts";
import { connectBus, type Bus } from "../../src/bus/connect.ts";
import { DEFAULT_MAX_PAYLOAD, EventPublisher } from "../../src/bus/publisher.ts";
import { Spool } from "../../src/bus/spool.ts";
import { ensureStreams } from "../../src/bus/stream.ts";
import { createApp } from "../../src/ingress/app.ts";
import { listenHttp } from "../../src/ingress/listen.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { createMetrics } from "../../src/observability/metrics.ts";
import type { TestServer } from "./servers.ts";
import { GITHUB_SECRET, GITLAB_TOKEN } from "./webhooks.ts";

export interface IngressHarness {
  readonly url: string;
  readonly bus: Bus;
  readonly publisher: EventPublisher;
  /** every log line written */
  readonly logs: string[];
  close(): Promise<void>;
}

/**
 * Only the HTTP edge and the bus (no consumers): the express app on a free port publishing to
 * the given NATS server, with a spool when `spoolDir` is set. The GitHub secret list holds a
 * second, older secret to exercise rotation.
 */
export async function startIngress(
  nats: TestServer,
  spoolDir: string | null,
  overrides: Record<string, unknown> = {},
): Promise<IngressHarness> {
  const loaded = loadConfig({
    env: {
      NATS_URL: nats.url,
      GITHUB_WEBHOOK_SECRET: `old-secret,${GITHUB_SECRET}`,
      GITLAB_WEBHOOK_TOKEN: GITLAB_TOKEN,
    },
    overrides: { server: { bodyLimit: "1mb" }, nats: { publishTimeout: 1000 }, ...overrides },
  });
  const logs: string[] = [];
  const logger = createLogger({
    level: "debug",
    secrets: [...loaded.secrets.githubWebhookSecrets, ...loaded.secrets.gitlabWebhookTokens],
    write: (line) => logs.push(line),
  });
  const metrics = createMetrics();
  const bus = await connectBus(nats.url, logger);
  await ensureStreams(bus.jsm, loaded.config.nats.stream);
  const publisher = new EventPublisher({
    js: bus.js,
    connected: () => bus.connected(),
    timeoutMs: loaded.config.nats.publishTimeout,
    spool: spoolDir ? new Spool(spoolDir, 1024 * 1024) : null,
    logger,
    metrics,
    maxPayload: () => bus.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
  });
  const app = createApp({
    config: loaded.config,
    secrets: loaded.secrets,
    publisher,
    readiness: () => ({ ready: bus.connected(), checks: {} }),
    logger,
    metrics,
  });
  const server: Server = await listenHttp(app, {
    host: "127.0.0.1",
    port: 0,
    requestTimeout: loaded.config.server.requestTimeout,
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    bus,
    publisher,
    logs,
    close: async () => {
      await publisher.stop();
      await new Promise((resolve) => server.close(resolve));
      await bus.close().catch(() => undefined);
    },
  };
}
