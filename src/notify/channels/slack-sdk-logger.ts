import { AsyncLocalStorage } from "node:async_hooks";
import { LogLevel, type Logger as SlackLogger } from "@slack/web-api";
import type { Logger } from "../../observability/logger.ts";

/**
 * The @slack/web-api client's own log lines (Slack's `warnings` on a call it accepted, a
 * request that failed on the network) in our JSON log, under the delivery that made the call
 * (`within`), instead of plain text on the console. Its debug and info lines are dropped.
 */
export function slackSdkLogger(fallback: Logger): {
  logger: SlackLogger;
  within: <T>(log: Logger, call: () => Promise<T>) => Promise<T>;
} {
  const current = new AsyncLocalStorage<Logger>();
  // the client passes extras such as forEach's index and array: keep the words
  const text = (parts: readonly unknown[]) =>
    `Slack Web API: ${parts.filter((part) => typeof part === "string").join(" ")}`;
  const logger: SlackLogger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (...parts: unknown[]) => (current.getStore() ?? fallback).warn(text(parts)),
    error: (...parts: unknown[]) => (current.getStore() ?? fallback).error(text(parts)),
    setLevel: () => undefined,
    getLevel: () => LogLevel.WARN,
    setName: () => undefined,
  };
  return { logger, within: (log, call) => current.run(log, call) };
}
