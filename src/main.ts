import { ConfigError, loadConfig, type LoadedConfig } from "./config/load.ts";
import { secretValues } from "./config/secret-values.ts";
import { createLogger } from "./observability/logger.ts";
import { initTracing } from "./observability/tracing.ts";
import { runGateway } from "./run-gateway.ts";

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

  await runGateway(loaded, { logger, stopTracing });
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason instanceof Error ? reason.stack : String(reason) }, "unhandled rejection");
  });
}

await main();
