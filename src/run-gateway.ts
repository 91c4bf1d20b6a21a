import type { LoadedConfig } from "./config/load.ts";
import { StartupError, startGateway, type Gateway } from "./gateway.ts";
import type { Logger } from "./observability/logger.ts";

/** What main hands over once the configuration, logger and tracing are set up. */
export interface RunOptions {
  readonly logger: Logger;
  /** flushes the spans (initTracing), when they are exported */
  readonly stopTracing?: (() => Promise<void>) | null;
}

/** Starts the gateway and drains it on SIGTERM/SIGINT/SIGHUP; a failed start exits 1. */
export async function runGateway(loaded: LoadedConfig, { logger, stopTracing }: RunOptions): Promise<void> {
  const { config } = loaded;
  let gateway: Gateway | null = null;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // Still starting: nothing listens or consumes yet, so there is nothing to drain. Exiting
    // runs the exit handlers, which stop a local nats-server or redis-server just started
    // (local-servers.ts); the signal's default action would have skipped them
    if (gateway === null) {
      logger.info({ signal }, "stopped while starting");
      process.exit(1);
    }
    const running = gateway;
    logger.info({ signal, graceMs: config.server.shutdownGrace }, "shutting down");
    const timer = setTimeout(() => {
      logger.error("shutdown grace period exceeded; exiting");
      process.exit(1);
    }, config.server.shutdownGrace);
    timer.unref();
    running
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
  // handled from before the start (see above)
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
  // a closed terminal or SSH session: Node would die at once, leaving the nats-server and
  // redis-server a development start spawned running (they survive SIGHUP themselves)
  process.on("SIGHUP", () => shutdown("SIGHUP"));

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
}
