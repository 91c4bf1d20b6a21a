import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type TestServer } from "../test/helpers/servers.ts";
import { spawnBuilt, waitForHttp, type Child, type Wrapper } from "./processes.ts";

export const BENCH_SECRET = "bench-github-secret-0123456789";
export const NOTIFY_REPOSITORY = "acme/notify-bench";
export const SLACK_CHANNEL = "C0BENCH";

export interface GatewayProcess {
  readonly url: string;
  readonly child: Child;
  stop(): Promise<void>;
}

/**
 * The real gateway (`src/main.ts`, consumers included) as its own process against the given
 * servers. Only NOTIFY_REPOSITORY is routed to Slack, so benchmark 1's events go through every
 * consumer (status store, notify state in KV) without turning into Slack calls.
 */
export async function startGatewayProcess(
  nats: TestServer,
  redis: TestServer,
  slackApiUrl: string,
  role: "all" | "ingress" | "workers" = "all",
  logLevel: "info" | "warn" = "warn",
  /** run under this command (valgrind for benchmark 5): startup takes longer there */
  wrapper: Wrapper = [],
): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-bench-"));
  const port = await freePort();
  const configFile = join(dir, "bench.yaml");
  writeFileSync(
    configFile,
    JSON.stringify({
      role,
      server: { host: "127.0.0.1", port, webhookRateLimit: { window: "1m", max: 100_000_000 } },
      dev: { startServers: false, dataDir: dir },
      spool: { dir: join(dir, "spool") },
      log: { level: logLevel, pretty: false },
      routes: [
        {
          name: "bench",
          match: { repositories: [NOTIFY_REPOSITORY] },
          on: ["started", "failed", "still_failing", "fixed", "succeeded", "canceled"],
          slack: { channel: SLACK_CHANNEL },
        },
      ],
    }),
  );
  const child = spawnBuilt(
    "dist/main.js",
    {
      NODE_ENV: "production",
      BUILDCAST_CONFIG: configFile,
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      GITHUB_WEBHOOK_SECRET: BENCH_SECRET,
      GITLAB_WEBHOOK_TOKEN: "bench-gitlab-token",
      SLACK_BOT_TOKEN: "xoxb-bench",
      SLACK_API_URL: slackApiUrl,
      LOG_LEVEL: logLevel,
    },
    wrapper,
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, child, wrapper.length > 0 ? 300_000 : 30_000);
  return {
    url,
    child,
    stop: async () => {
      await child.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
