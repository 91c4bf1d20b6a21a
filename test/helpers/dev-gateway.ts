import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The checkout, where a child process runs the gateway's sources. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");

const module = (path: string): string => JSON.stringify(pathToFileURL(join(ROOT, path)).href);

/**
 * A module for `node --import tsx --input-type=module -e` that loads the config of `npm start`
 * for the built-in default URLs, so the gateway starts its own nats-server and redis-server
 * (e-mail on, so Redis is needed), but on free ports and under `dir`. It logs JSON lines to
 * stdout (the local servers' pids among them) and defines `loaded`, `logger`, `startGateway`
 * and `runGateway` for `then`, the code that starts it.
 */
export function devGatewayScript(dir: string, ports: { nats: number; redis: number }, then: string): string {
  return `
    import { loadConfig } from ${module("src/config/load.ts")};
    import { startGateway } from ${module("src/gateway.ts")};
    import { runGateway } from ${module("src/run-gateway.ts")};
    import { createLogger } from ${module("src/observability/logger.ts")};
    const loaded = {
      ...loadConfig({
        env: { SMTP_URL: "smtp://127.0.0.1:1" },
        overrides: {
          server: { host: "127.0.0.1", port: 0 },
          nats: { url: "nats://127.0.0.1:${ports.nats}" },
          redis: { url: "redis://127.0.0.1:${ports.redis}" },
          dev: { dataDir: ${JSON.stringify(join(dir, "data"))} },
          spool: { dir: ${JSON.stringify(join(dir, "spool"))} },
        },
      }),
      // as if the URLs were the defaults: a development start runs its own servers there
      explicit: { natsUrl: false, redisUrl: false },
    };
    const logger = createLogger({ level: "info", secrets: [], write: (line) => process.stdout.write(line) });
    ${then}
  `;
}

/** The pids of the local servers a gateway's log says it started. */
export function localServerPids(output: string): number[] {
  return output
    .split("\n")
    .map((line) => (/"msg":"started a local/.test(line) ? /"pid":(\d+)/.exec(line)?.[1] : undefined))
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);
}
