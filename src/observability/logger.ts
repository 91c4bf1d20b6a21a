import { createRequire } from "node:module";
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

/**
 * Replaces every known secret value in a serialized log line. Redacting by field name is
 * not enough: a secret can hide in an error message or a URL (smtp://user:pass@host).
 */
export function secretScrubber(secrets: readonly string[]): (line: string) => string {
  // a line is JSON: a secret holding a quote, a backslash or a control character is written
  // escaped (my\"secret), so that form is looked for as well as the raw one
  const forms = secrets.filter((s) => s.length >= 4).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  const values = [...new Set(forms)].sort((a, b) => b.length - a.length);
  if (values.length === 0) return (line) => line;
  const escaped = values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(escaped.join("|"), "g");
  return (line) => line.replace(pattern, "[REDACTED]");
}

/**
 * A URL query parameter that carries a credential: ioredis takes every parameter of a Redis
 * URL as an option, so `redis://host:6379?password=…` authenticates.
 */
export const isCredentialParam = (name: string): boolean => /pass|pwd|token|secret|auth|cred/i.test(name);

/** Credentials inside URLs (smtp://user:pass@host, redis://:pass@host, ?password=) are secrets too. */
export function urlCredentials(url: string | null | undefined): string[] {
  if (!url) return [];
  // a NATS seed list is several URLs separated by commas
  return url.split(",").flatMap((part) => {
    try {
      const { username, password, searchParams } = new URL(part.trim());
      // nats://TOKEN@host carries a token where a user name would be
      const token = password === "" ? [username] : [];
      const query = [...searchParams].filter(([name]) => isCredentialParam(name)).map(([, value]) => value);
      return [password, decodeURIComponent(password), ...token, ...query].filter((s) => s.length > 0);
    } catch {
      return [];
    }
  });
}

const CENSOR = "[REDACTED]";
/** Fields censored in every object a line holds (`{ smtp: { password } }`): one level down. */
const CENSORED_FIELDS = ["authorization", "password", "token", "secret"];
/** and in logged request headers, their cookies too */
const CENSORED_HEADERS = [...CENSORED_FIELDS, "cookie"];

/**
 * What pino's `redact` paths `*.authorization`, `*.password`, `*.token`, `*.secret`,
 * `headers.authorization` and `headers.cookie` did, at a fraction of the cost: pino 10's
 * redaction (@pinojs/redact) parses every path again and copies each field of every line, a
 * number or a string included, which was over half the cost of a line. This looks at the
 * objects a line holds and copies only the one that holds a censored field (keeping its
 * prototype and every other property, so an Error still serializes with its message and stack).
 */
function censorFields(fields: Record<string, unknown>): Record<string, unknown> {
  let censored: Record<string, unknown> | null = null;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (typeof value !== "object" || value === null || Array.isArray(value)) continue;
    const copy = censorObject(value, key === "headers" ? CENSORED_HEADERS : CENSORED_FIELDS);
    if (copy === value) continue;
    censored ??= { ...fields };
    censored[key] = copy;
  }
  return censored ?? fields;
}

function censorObject(value: object, names: readonly string[]): object {
  let descriptors: PropertyDescriptorMap | null = null;
  for (const name of names) {
    // only what JSON would show: own enumerable properties
    if (!Object.prototype.propertyIsEnumerable.call(value, name)) continue;
    descriptors ??= Object.getOwnPropertyDescriptors(value);
    descriptors[name] = { value: CENSOR, enumerable: true, writable: true, configurable: true };
  }
  if (descriptors === null) return value;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return Object.create(prototype, descriptors) as object;
}

/**
 * pino's `stdTimeFunctions.isoTime` (`,"time":"2026-12-02T05:33:11.123Z"`), with the text up to
 * the second made once a second: Date#toISOString formats through V8's printf, and cost about
 * a fifth of a line.
 */
export function isoTime(now: () => number = Date.now): () => string {
  let second = Number.NaN;
  let head = "";
  return () => {
    const ms = now();
    const at = Math.floor(ms / 1000);
    if (at !== second) {
      second = at;
      // "…T05:33:11.000Z" without its "000Z"
      head = `,"time":"${new Date(at * 1000).toISOString().slice(0, -4)}`;
    }
    const milli = ms - at * 1000;
    return `${head}${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}Z"`;
  };
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
  const write = options.write ?? writeStdout;
  const stream: DestinationStream = { write: (line: string) => write(scrub(line)) };
  const logger = pino(
    {
      level: options.level,
      base: { service: "buildcast" },
      timestamp: isoTime(),
      formatters: { level: (label) => ({ level: label }), bindings: censorFields, log: censorFields },
    },
    options.pretty ? prettyStream(stream) : stream,
  );
  // pino's `formatters.bindings` sees only the base bindings: a child's are censored as they
  // are bound. Children are made from their parent's prototype, so every descendant has this.
  const { child, setBindings } = Object.getPrototypeOf(logger) as Pick<Logger, "child" | "setBindings">;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, censorFields(bindings), childOptions);
  } as Logger["child"];
  logger.setBindings = function (this: Logger, bindings) {
    setBindings.call(this, censorFields(bindings));
  };
  return logger;
}

/**
 * stdout through pino's asynchronous destination (sonic-boom): a line goes to the kernel at
 * once unless a write is already under way, and lines that come meanwhile leave together in
 * the next. process.stdout writes each line with its own blocking write, which at info level
 * (a line per webhook) cost a tenth of ingress throughput; this takes back about half of it.
 * pino writes what is still queued synchronously when the process exits (a crash from an
 * uncaught error included; only SIGKILL can lose the few lines under way) and stops logging
 * on EPIPE. One destination per process, opened with the first line.
 */
let stdout: ReturnType<typeof pino.destination> | null = null;

function writeStdout(line: string): void {
  if (stdout === null) {
    const destination = pino.destination({ dest: 1, sync: false });
    stdout = destination;
    // any other write error (EIO once the terminal of `npm start` closed, ENOSPC): there is
    // nowhere left to report it, and losing log lines must not take down a process that holds
    // accepted webhooks. Nor hang it: the flush at exit retries a failed write forever
    // (sonic-boom 4), so logging stops here, as pino itself does on EPIPE
    destination.on("error", () => {
      const noop = (): boolean => true;
      destination.write = noop;
      destination.flushSync = () => undefined;
    });
  }
  stdout.write(line);
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
