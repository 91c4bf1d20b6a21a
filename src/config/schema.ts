import proxyaddr from "proxy-addr";
import { z } from "zod";
import { KINDS, PROVIDERS } from "../events/schema.ts";

/**
 * A quantity written as a plain number or as a number with a unit ("25mb", "30s"). zod v4
 * reports a failed union only as "Invalid input", so the union and each of its branches
 * carry one message that says what is accepted.
 */
/**
 * A `trust proxy` list as express compiles it (comma-separated addresses, CIDR subnets and
 * the names loopback, linklocal, uniquelocal): checked here, because express only compiles
 * it when the HTTP server starts, and throws there.
 */
function trustedProxies(value: string, ctx: z.RefinementCtx): void {
  try {
    proxyaddr.compile(value.split(",").map((part) => part.trim()));
  } catch (error) {
    ctx.addIssue({
      code: "custom",
      message: `${(error as Error).message}: give IP addresses, CIDR subnets (10.0.0.0/8) or loopback, linklocal, uniquelocal, separated by commas`,
    });
  }
}

function quantity(options: {
  readonly min: number;
  readonly pattern: RegExp;
  readonly units: Readonly<Record<string, number>>;
  readonly error: string;
}) {
  const error = { error: options.error };
  return z.union(
    [
      z.number(error).int(error).min(options.min, error),
      z
        .string(error)
        .regex(options.pattern, error)
        .transform((text) => {
          const match = options.pattern.exec(text);
          return Math.round(Number(match?.[1]) * (options.units[match?.[2]?.toLowerCase() ?? ""] ?? 1));
        }),
    ],
    error,
  );
}

/** Byte sizes: a whole number of bytes, or "25mb", "512kb", "1.5gb" (any case; 1kb = 1024 bytes). */
const byteSize = quantity({
  min: 1,
  pattern: /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i,
  units: { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 },
  error: "expected a size such as 25mb, 512kb, 1.5gb or a whole number of bytes (units: b, kb, mb, gb)",
});

/** Durations: a whole number of milliseconds, or a whole number with a lower-case unit. */
const duration = quantity({
  min: 0,
  pattern: /^(\d+)\s*(ms|s|m|h|d)$/,
  units: { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 },
  error:
    "expected a duration such as 30s, 500ms, 5m, 2h, 90d or a whole number of milliseconds " +
    "(whole numbers only; units: ms, s, m, h, d, in lower case)",
});

/** The longest delay setTimeout honours (2^31-1 ms, 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A duration a timer waits out (setTimeout, setInterval, a client's timeout). Node fires a
 * longer one after 1 ms: a 30d shutdownGrace exited at once without draining.
 */
const timerDuration = duration.refine(
  (ms) => ms <= MAX_TIMER_MS,
  "at most 24d: a timer waits this long, and Node fires a longer one after 1 ms",
);

const hasScheme = (value: string, schemes: readonly string[]): boolean => {
  try {
    return schemes.includes(new URL(value.trim()).protocol.replace(/:$/, ""));
  } catch {
    return false;
  }
};

/**
 * Whether a URL of the right scheme names a host. One slash too few (`redis:/:pw@host`) still
 * parses, as a URL with no host and everything else its path: the client connected to nothing,
 * and the password, in no user-info field, was shown whole wherever the URL was (redacted
 * shows only those fields). A URL of another scheme is the scheme check's to refuse.
 */
const hasHost = (value: string, schemes: readonly string[]): boolean =>
  !hasScheme(value, schemes) || new URL(value.trim()).host !== "";

/**
 * Whether a URL's user and password decode, as the clients decode them: a bare % (a
 * generated password's `p%zz`) throws "URI malformed" there, at every connection attempt.
 */
const credentialsDecode = (value: string, schemes: readonly string[]): boolean => {
  if (!hasScheme(value, schemes)) return true;
  const { username, password } = new URL(value.trim());
  try {
    decodeURIComponent(username);
    decodeURIComponent(password);
    return true;
  } catch {
    return false;
  }
};

const NOT_ENCODED =
  "the user and password in the URL must be URL-encoded: write % as %25 (and @ : / # as %40 %3A %2F %23)";

/** the value is not repeated in a message: these URLs may carry passwords */
const noHost = (schemes: readonly string[], what = "a URL"): string =>
  `${what} with a host, as in ${schemes[0] ?? "scheme"}://host:port (is a slash missing after the scheme?)`;

const url = (schemes: readonly string[]) =>
  z
    .string()
    .refine((value) => hasScheme(value, schemes), `a URL with scheme ${schemes.join(" or ")}`)
    .refine((value) => hasHost(value, schemes), noHost(schemes))
    .refine((value) => credentialsDecode(value, schemes), NOT_ENCODED);

/** One URL or several, comma-separated (the seed servers of a NATS cluster). */
const urlList = (schemes: readonly string[]) =>
  z
    .string()
    .refine(
      (value) => value.split(",").every((part) => hasScheme(part, schemes)),
      `one or more comma-separated URLs with scheme ${schemes.join(" or ")}`,
    )
    .refine((value) => value.split(",").every((part) => hasHost(part, schemes)), noHost(schemes, "URLs each"))
    .refine((value) => value.split(",").every((part) => credentialsDecode(part, schemes)), NOT_ENCODED);

/**
 * The window of a per-client limit. A window of 0 (or a few ms) ends before a second request
 * comes, so the limit never refuses anything, and the wrong-token limit would sweep its
 * memory on a timer that fires every millisecond.
 */
const limitWindow = duration.refine((ms) => ms >= 1000, "at least 1s: a shorter window limits nothing");

export const TRANSITIONS = ["failed", "still_failing", "fixed", "succeeded", "started", "canceled"] as const;
export type Transition = (typeof TRANSITIONS)[number];

const personSchema = z
  .object({
    name: z.string().optional(),
    email: z.email().optional(),
    github: z.string().optional(),
    gitlab: z.string().optional(),
    slack: z
      .string()
      .regex(/^[UW][A-Z0-9]+$/, "a Slack user id such as U012ABC")
      .optional(),
  })
  .strict();

const globList = z.array(z.string().min(1)).min(1);

const routeSchema = z
  .object({
    name: z.string().min(1),
    match: z
      .object({
        repositories: globList.optional(),
        branches: globList.optional(),
        tags: globList.optional(),
        pipelines: globList.optional(),
        providers: z.array(z.enum(PROVIDERS)).min(1).optional(),
        kinds: z.array(z.enum(KINDS)).min(1).default(["pipeline"]),
      })
      .strict()
      .default({ kinds: ["pipeline"] }),
    on: z.array(z.enum(TRANSITIONS)).min(1).default(["failed", "still_failing", "fixed"]),
    slack: z
      .object({
        channel: z.string().min(1),
        mentionAuthor: z.boolean().default(true),
        threadFailures: z.boolean().default(true),
      })
      .strict()
      .optional(),
    email: z
      .object({
        to: z.array(z.email()).default([]),
        author: z.boolean().default(false),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((route) => route.slack !== undefined || route.email !== undefined, {
    message: "a route needs a slack or an email target",
  });

export const configSchema = z
  .object({
    /**
     * What this process does: "all"; "ingress" (webhooks + API, no consumers) and "workers"
     * (consumers + API, no webhooks) let the two scale apart.
     */
    role: z.enum(["all", "ingress", "workers"]).default("all"),
    server: z
      .object({
        host: z.string().default("0.0.0.0"),
        port: z.number().int().min(0).max(65535).default(3000),
        bodyLimit: byteSize.default(25 * 1024 * 1024),
        // webhook bodies being received at once across requests; past it, 503 with Retry-After
        bodyMemory: byteSize.default(64 * 1024 * 1024),
        requestTimeout: timerDuration.default(30_000),
        webhookRateLimit: z
          .object({ window: limitWindow.default(60_000), max: z.number().int().positive().default(6000) })
          .strict()
          .default({ window: 60_000, max: 6000 }),
        // different wrong API tokens per client IP (sign-in, API, badges, live feed); past it, 429
        authRateLimit: z
          .object({ window: limitWindow.default(900_000), max: z.number().int().positive().default(30) })
          .strict()
          .default({ window: 900_000, max: 30 }),
        shutdownGrace: timerDuration.default(25_000),
        /**
         * Which proxies' X-Forwarded-For to believe for the client address (rate limit, logs):
         * express's "trust proxy" value. Only proxies you run: a trusted hop can name any client.
         */
        trustProxy: z
          .union([z.boolean(), z.number().int().min(0), z.string().superRefine(trustedProxies)])
          .default("loopback"),
      })
      .strict()
      .prefault({}),
    nats: z
      .object({
        /** one URL, or several comma-separated seed servers of a cluster */
        // not ws/wss: the Node transport speaks NATS over TCP only and refuses WebSocket URLs
        url: urlList(["nats", "tls"]).default("nats://127.0.0.1:4222"),
        publishTimeout: timerDuration.default(5000),
        stream: z
          .object({
            name: z
              .string()
              .regex(/^[A-Za-z0-9_-]+$/)
              .default("BUILD_EVENTS"),
            replicas: z.number().int().min(1).max(5).default(1),
            duplicateWindow: duration.default(2 * 3_600_000),
            maxAge: duration.default(30 * 86_400_000),
            storage: z.enum(["file", "memory"]).default("file"),
          })
          .strict()
          .prefault({}),
        consumer: z
          .object({
            maxDeliver: z.number().int().min(1).default(20),
            ackWait: timerDuration.default(30_000),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: url(["redis", "rediss"]).default("redis://127.0.0.1:6379"),
        prefix: z.string().min(1).default("buildcast"),
      })
      .strict()
      .prefault({}),
    dev: z
      .object({
        /** start nats-server / redis-server when nothing listens at a default URL (never in production) */
        startServers: z.boolean().default(true),
        dataDir: z.string().default(".data"),
      })
      .strict()
      .prefault({}),
    spool: z
      .object({
        /** keep accepted webhooks on local disk while JetStream is unreachable (off → 503 instead) */
        enabled: z.boolean().default(true),
        dir: z.string().default(".data/spool"),
        maxBytes: byteSize.default(256 * 1024 * 1024),
        flushInterval: timerDuration.default(1000),
      })
      .strict()
      .prefault({}),
    status: z
      .object({
        bucket: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default("BUILD_STATUS"),
        history: z.number().int().min(1).max(64).default(1),
        replicas: z.number().int().min(1).max(5).default(1),
        runsPerBranch: z.number().int().min(1).max(500).default(50),
        /**
         * How long a branch list or run record is kept after its last update; 0 keeps them
         * forever. Lists of `keepBranches` stay whatever their age (their badges must not
         * vanish because a branch is quiet).
         */
        retention: duration
          .refine((ms) => ms === 0 || ms >= 60_000, "0 (keep forever) or at least 1m")
          .default(90 * 86_400_000),
        keepBranches: z.array(z.string().min(1)).default(["main", "master"]),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({
        bucket: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/)
          .default("BUILD_NOTIFY"),
        slack: z
          .object({
            apiUrl: url(["https", "http"]).default("https://slack.com/api/"),
            /** minimum spacing between calls for one message, Slack allows about 1/s per channel */
            minInterval: timerDuration.default(1000),
            /**
             * how long a Slack call may take before it is given up and retried; a post given up
             * on is looked for (and waited for, up to three times this) before it is made again
             */
            timeout: timerDuration
              .refine((ms) => ms >= 100, "under 100 ms every Slack call would be given up on")
              .default(10_000),
            /** how often auth.test asks again while Slack refuses the bot token (notices wait meanwhile) */
            // past 24d, auth.test would be asked nonstop
            tokenRecheck: timerDuration
              .refine((ms) => ms >= 100, "at least 100 ms: auth.test is asked again this often")
              .default(60_000),
          })
          .strict()
          .prefault({}),
        email: z
          .object({
            // nodemailer sends a bare name with no From header and an empty envelope sender
            from: z
              .string()
              .regex(
                /^\s*(?:[^<>]*<\s*[^\s<>@]+@[^\s<>@]+\s*>|[^\s<>@]+@[^\s<>@]+)\s*$/,
                "an e-mail address, alone or after a name: buildcast@example.com or buildcast <buildcast@example.com>",
              )
              .default("buildcast <buildcast@localhost>"),
            // a run's job events may come after its own (GitLab sends job and pipeline hooks
            // independently): a mail sent at once would list none of the jobs that failed
            delay: duration.default(5000),
          })
          .strict()
          .prefault({}),
        // links are only made of http(s) URLs: anything else would be a dead "status page" label
        dashboardUrl: url(["https", "http"]).nullable().default(null),
        /**
         * How far back in the stream a channel's consumer starts when it is first created (a
         * channel turned on, a new deployment): older events never notify. 0 = only new ones.
         */
        lookback: duration.default(600_000),
        /** bullmq delivery jobs: retries with exponential backoff and jitter, then the dead-letter set */
        delivery: z
          .object({
            attempts: z.number().int().min(1).max(100).default(10),
            backoff: duration.default(2000),
            concurrency: z.number().int().min(1).max(256).default(8),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    people: z.array(personSchema).default([]),
    routes: z.array(routeSchema).default([]),
    log: z
      .object({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        pretty: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type Route = Config["routes"][number];
export type Person = Config["people"][number];

/** Secrets come only from the environment and are kept apart from the loggable config. */
export interface Secrets {
  /** several values (comma-separated in the env) so a secret can be rotated without downtime */
  readonly githubWebhookSecrets: readonly string[];
  readonly gitlabWebhookTokens: readonly string[];
  readonly slackBotToken: string | null;
  readonly smtpUrl: string | null;
  readonly apiToken: string | null;
}
