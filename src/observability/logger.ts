import { createRequire } from "node:module";
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

/**
 * Replaces every known secret value in a serialized log line. Redacting by field name is
 * not enough: a secret can hide in an error message or a URL (smtp://user:pass@host).
 */
export function secretScrubber(secrets: readonly string[]): (line: string) => string {
  const values = [...new Set(secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (line) => line;
  const escaped = values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(escaped.join("|"), "g");
  return (line) => line.replace(pattern, "[REDACTED]");
}

/** Credentials inside URLs (smtp://user:pass@host, redis://:pass@host) are secrets too. */
export function urlCredentials(url: string | null | undefined): string[] {
  if (!url) return [];
  // a NATS seed list is several URLs separated by commas
  return url.split(",").flatMap((part) => {
    try {
      const { username, password } = new URL(part.trim());
      // nats://TOKEN@host carries a token where a user name would be
      const token = password === "" ? [username] : [];
      return [password, decodeURIComponent(password), ...token].filter((s) => s.length > 0);
    } catch {
      return [];
    }
  });
}

export interface LoggerOptions {
  readonly level: string;
  readonly secrets: readonly string[];
  readonly pretty?: boolean;
  /** where lines go; stdout by default (tests capture them) */
  readonly write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions): Logger {
  const scrub = secretScrubber(options.secrets);
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const stream: DestinationStream = { write: (line: string) => write(scrub(line)) };
  return pino(
    {
      level: options.level,
      base: { service: "buildcast" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "*.authorization",
          "*.password",
          "*.token",
          "*.secret",
          "headers.authorization",
          "headers.cookie",
        ],
        censor: "[REDACTED]",
      },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.pretty ? prettyStream(stream) : stream,
  );
}

/**
 * Human-readable lines in development, through pino-pretty when it is installed (it is a
 * dev dependency; production images log JSON).
 */
function prettyStream(inner: DestinationStream): DestinationStream {
  let format: ((line: string) => string) | null | undefined;
  return {
    write(line: string) {
      if (format === undefined) format = loadPretty();
      inner.write(format ? format(line) : line);
    },
  };
}

function loadPretty(): ((line: string) => string) | null {
  try {
    const mod = createRequire(import.meta.url)("pino-pretty") as {
      prettyFactory: (options: object) => (line: string) => string;
    };
    return mod.prettyFactory({
      colorize: process.stdout.isTTY,
      translateTime: "HH:MM:ss.l",
      ignore: "pid,hostname,service",
    });
  } catch {
    return null;
  }
}
