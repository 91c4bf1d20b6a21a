import { ConfigError, loadConfig, type LoadedConfig } from "./config/load.ts";
import { StartupError, startGateway } from "./gateway.ts";
import { secretValues } from "./config/secret-values.ts";
import { createLogger } from "./observability/logger.ts";
import { initTracing } from "./observability/tracing.ts";

/** Composition root: load config, start the gateway, drain on SIGTERM/SIGINT/SIGHUP. */
async function main(): Promise<void> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`buildcast: ${error.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
  const { config } = loaded;
  const logger = createLogger({
    level: config.log.level,
    pretty: config.log.pretty ?? (!loaded.production && process.stdout.isTTY),
    secrets: secretValues(loaded),
  });

  const stopTracing = await initTracing();
  if (stopTracing) logger.info("exporting OpenTelemetry spans (OTEL_EXPORTER_OTLP_ENDPOINT is set)");

  let gateway;
  try {
    gateway = await startGateway(loaded, { logger });
  } catch (error) {
    if (error instanceof StartupError) {
      logger.fatal(error.message);
      process.exit(1);
    }
    // through the logger, which scrubs secrets: an uncaught error's stack is printed raw
    logger.fatal({ err: error instanceof Error ? error.stack : String(error) }, "could not start");
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.server.shutdownGrace }, "shutting down");
    const timer = setTimeout(() => {
      logger.error("shutdown grace period exceeded; exiting");
      process.exit(1);
    }, config.server.shutdownGrace);
    timer.unref();
    gateway
      .close()
      .then(() => stopTracing?.())
      .then(
        () => {
          logger.info("stopped");
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: String(error) }, "error while shutting down");
          process.exit(1);
        },
      );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  // a closed terminal or SSH session: Node would die at once, leaving the nats-server and
  // redis-server a development start spawned running (they survive SIGHUP themselves)
  process.on("SIGHUP", () => shutdown("SIGHUP"));
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason instanceof Error ? reason.stack : String(reason) }, "unhandled rejection");
  });
}

await main();
