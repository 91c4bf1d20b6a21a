import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { configSchema } from "../../src/config/schema.ts";

test("defaults load with no file and no environment", () => {
  const { config, secrets, explicit, production } = loadConfig({ env: {} });
  assert.equal(config.server.port, 3000);
  assert.equal(config.nats.url, "nats://127.0.0.1:4222");
  assert.equal(config.redis.url, "redis://127.0.0.1:6379");
  assert.equal(config.server.bodyLimit, 25 * 1024 * 1024);
  assert.equal(config.nats.stream.duplicateWindow, 2 * 3600 * 1000);
  assert.deepEqual(secrets.githubWebhookSecrets, []);
  assert.deepEqual(explicit, { natsUrl: false, redisUrl: false });
  assert.equal(production, false);
});

test("file, then environment, override the defaults; secrets split on commas", () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "config.yaml");
    writeFileSync(file, "server:\n  port: 4000\n  bodyLimit: 1mb\nnats:\n  stream:\n    replicas: 3\n");
    const loaded = loadConfig({
      env: {
        BUILDCAST_CONFIG: file,
        PORT: "5000",
        NATS_URL: "nats://n1:4222",
        GITHUB_WEBHOOK_SECRET: "new, old ,",
        NODE_ENV: "production",
      },
    });
    assert.equal(loaded.config.server.port, 5000);
    assert.equal(loaded.config.server.bodyLimit, 1024 * 1024);
    assert.equal(loaded.config.nats.stream.replicas, 3);
    assert.equal(loaded.config.nats.stream.name, "BUILD_EVENTS", "merging keeps sibling defaults");
    assert.deepEqual(loaded.secrets.githubWebhookSecrets, ["new", "old"]);
    assert.equal(loaded.explicit.natsUrl, true);
    assert.equal(loaded.production, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an invalid setting names its path and what is wrong", () => {
  assert.throws(
    () => loadConfig({ env: { PORT: "not-a-port" } }),
    (error: unknown) => error instanceof ConfigError && /server\.port/.test(error.message),
  );
  assert.throws(
    () =>
      loadConfig({
        env: {},
        overrides: { nats: { url: "http://x" }, routes: [{ name: "r", on: ["exploded"] }] },
      }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /nats\.url/.test(error.message) &&
      /routes\.0\.on\.0/.test(error.message),
  );
  assert.throws(
    () => loadConfig({ env: {}, overrides: { server: { colour: "blue" } } }),
    (error: unknown) => error instanceof ConfigError && /colour/.test(error.message),
    "unknown keys are typos, not silently ignored",
  );
});

test("server.trustProxy is checked as express will compile it, not when the server starts", () => {
  for (const trustProxy of ["ingress-nginx", "10.0.0.0/33, loopback", "loopback,,"]) {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { server: { trustProxy } } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /server\.trustProxy/.test(error.message) &&
        /CIDR subnets/.test(error.message),
      trustProxy,
    );
  }
  for (const trustProxy of ["loopback, uniquelocal", "10.0.0.0/8,192.168.1.1", "::1", true, 2]) {
    assert.equal(
      loadConfig({ env: {}, overrides: { server: { trustProxy } } }).config.server.trustProxy,
      trustProxy,
    );
  }
});

test("a missing or malformed config file is a clear error", () => {
  assert.throws(
    () => loadConfig({ env: { BUILDCAST_CONFIG: "/nonexistent/buildcast.yaml" } }),
    /cannot read config file/,
  );
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "server: [unclosed\n");
    assert.throws(() => loadConfig({ env: { BUILDCAST_CONFIG: file } }), /not valid YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const SIZE_MESSAGE =
  "expected a size such as 25mb, 512kb, 1.5gb or a whole number of bytes (units: b, kb, mb, gb)";
const DURATION_MESSAGE =
  "expected a duration such as 30s, 500ms, 5m, 2h, 90d or a whole number of milliseconds " +
  "(whole numbers only; units: ms, s, m, h, d, in lower case)";

/** The ConfigError message of loading `overrides`, or a failure when it loads. */
function configErrorOf(overrides: Record<string, unknown>): string {
  try {
    loadConfig({ env: {}, overrides });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`${JSON.stringify(overrides)} was accepted`);
}

/** { a: { b: value } } from "a.b" */
const at = (path: string, value: unknown): Record<string, unknown> =>
  path
    .split(".")
    .reverse()
    .reduce<Record<string, unknown>>((inner, key) => ({ [key]: inner }), value as Record<string, unknown>);

test("a bad size or duration in a config file says what is accepted, not just 'Invalid input'", () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "config.yaml");
    writeFileSync(file, "server: { bodyLimit: 25megs, requestTimeout: 1.5s, shutdownGrace: 30S }\n");
    assert.throws(
      () => loadConfig({ env: { BUILDCAST_CONFIG: file } }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.ok(error.message.includes(`server.bodyLimit: ${SIZE_MESSAGE}`), error.message);
        assert.ok(error.message.includes(`server.requestTimeout: ${DURATION_MESSAGE}`), error.message);
        assert.ok(error.message.includes(`server.shutdownGrace: ${DURATION_MESSAGE}`), error.message);
        assert.doesNotMatch(error.message, /Invalid input/);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every size and duration setting explains a wrong value, whatever its type", () => {
  const sizes = ["server.bodyLimit", "spool.maxBytes"];
  const durations = [
    "server.requestTimeout",
    "server.webhookRateLimit.window",
    "server.authRateLimit.window",
    "server.shutdownGrace",
    "nats.publishTimeout",
    "nats.stream.duplicateWindow",
    "nats.stream.maxAge",
    "nats.consumer.ackWait",
    "spool.flushInterval",
    "status.retention",
    "notify.slack.minInterval",
    "notify.delivery.backoff",
  ];
  for (const [paths, message, wrong] of [
    [sizes, SIZE_MESSAGE, ["25megs", "25 MiB", "", -1, 0, 1.5, true, null, ["25mb"]]],
    [durations, DURATION_MESSAGE, ["1.5s", "30S", "30 sec", "", -1, 1.5, false, null, { s: 30 }]],
  ] as const) {
    for (const path of paths) {
      for (const value of wrong) {
        const text = configErrorOf(at(path, value));
        assert.ok(
          text.includes(`  - ${path}: ${message}`),
          `${path} = ${JSON.stringify(value)} gave:\n${text}`,
        );
      }
    }
  }
});

test("sizes and durations in every accepted form", () => {
  const { config } = loadConfig({
    env: {},
    overrides: {
      server: { bodyLimit: "1.5gb", requestTimeout: "500ms", shutdownGrace: 1234 },
      spool: { maxBytes: "512 KB", flushInterval: "2m" },
      nats: { stream: { duplicateWindow: "2h", maxAge: "90d" }, consumer: { ackWait: "30s" } },
      status: { retention: 0 },
    },
  });
  assert.equal(config.server.bodyLimit, Math.round(1.5 * 1024 ** 3));
  assert.equal(config.server.requestTimeout, 500);
  assert.equal(config.server.shutdownGrace, 1234);
  assert.equal(config.spool.maxBytes, 512 * 1024);
  assert.equal(config.spool.flushInterval, 120_000);
  assert.equal(config.nats.stream.duplicateWindow, 2 * 3_600_000);
  assert.equal(config.nats.stream.maxAge, 90 * 86_400_000);
  assert.equal(config.nats.consumer.ackWait, 30_000);
  assert.equal(config.status.retention, 0);
  // a valid duration that breaks a further rule keeps that rule's own message
  assert.match(
    configErrorOf({ status: { retention: "30s" } }),
    /status\.retention: 0 \(keep forever\) or at least 1m/,
  );
});

test("a NATS or Redis URL other than the built-in default is explicit, from a config file as from the environment", () => {
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "config.yaml");
    writeFileSync(
      file,
      'nats: { url: "nats://127.0.0.1:24222" }\nredis: { url: "redis://127.0.0.1:6379" }\n',
    );
    assert.deepEqual(
      loadConfig({ env: { BUILDCAST_CONFIG: file } }).explicit,
      { natsUrl: true, redisUrl: false },
      "a file naming another NATS URL is explicit; repeating the default Redis URL is not",
    );
    assert.deepEqual(
      loadConfig({ env: {}, file }).explicit,
      { natsUrl: true, redisUrl: false },
      "config check",
    );
    assert.deepEqual(
      loadConfig({ env: {}, overrides: { redis: { url: "redis://cache.internal:6379" } } }).explicit,
      { natsUrl: false, redisUrl: true },
    );
    assert.deepEqual(
      loadConfig({ env: { NATS_URL: "nats://127.0.0.1:4222", REDIS_URL: "redis://127.0.0.1:6379" } })
        .explicit,
      { natsUrl: true, redisUrl: true },
      "setting a variable is explicit even when it names the default",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad value from an environment variable names the variable, not only the path it sets", () => {
  assert.throws(
    () =>
      loadConfig({ env: { PORT: "80a", LOG_LEVEL: "verbose", NATS_URL: "http://user:hunter2@nats:4222" } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /server\.port: .*\(set by the environment variable PORT\)/.test(error.message) &&
      /log\.level: .*\(set by the environment variable LOG_LEVEL\)/.test(error.message) &&
      /nats\.url: .*\(set by the environment variable NATS_URL\)/.test(error.message) &&
      !error.message.includes("hunter2"),
  );
  // a value from a file is the file's, even with a variable set for another setting
  const dir = mkdtempSync(join(tmpdir(), "buildcast-config-"));
  try {
    const file = join(dir, "config.yaml");
    writeFileSync(file, "server:\n  port: eighty\n");
    assert.throws(
      () => loadConfig({ env: { BUILDCAST_CONFIG: file, LOG_LEVEL: "info" } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /server\.port: /.test(error.message) &&
        !/environment variable/.test(error.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // a command-line override replaces the variable's value, and the blame with it
  assert.throws(
    () => loadConfig({ env: { NATS_URL: "nats://ok:4222" }, overrides: { nats: { url: "http://x" } } }),
    (error: unknown) =>
      error instanceof ConfigError && /nats\.url: /.test(error.message) && !/NATS_URL/.test(error.message),
  );
});

test("notice settings that would silently break every notice are refused at start", () => {
  const invalid = (notify: Record<string, unknown>) => () => loadConfig({ env: {}, overrides: { notify } });
  // no scheme: the Slack "status page" label and the e-mail link would be dropped
  assert.throws(
    invalid({ dashboardUrl: "buildcast.example.com" }),
    (error: unknown) =>
      error instanceof ConfigError && /notify\.dashboardUrl: a URL with scheme https/.test(error.message),
  );
  // a name without an address: nodemailer sends no From header and an empty envelope sender
  for (const from of ["Buildcast CI", "buildcast <buildcast>", ""]) {
    assert.throws(
      invalid({ email: { from } }),
      (error: unknown) =>
        error instanceof ConfigError && /notify\.email\.from: an e-mail address/.test(error.message),
      from,
    );
  }
  assert.throws(
    invalid({ slack: { apiUrl: "slack.example.com/api/" } }),
    (error: unknown) => error instanceof ConfigError && /notify\.slack\.apiUrl: a URL/.test(error.message),
  );
  const ok = loadConfig({
    env: { SLACK_API_URL: "http://127.0.0.1:9/api/" },
    overrides: {
      notify: { dashboardUrl: "https://ci.example.com/", email: { from: '"CI, Inc." <ci@example.com>' } },
    },
  });
  assert.equal(ok.config.notify.dashboardUrl, "https://ci.example.com/");
  assert.equal(
    loadConfig({ env: {}, overrides: { notify: { email: { from: "ci@example.com" } } } }).config.notify.email
      .from,
    "ci@example.com",
  );
});

test("a WebSocket NATS URL is refused at start: the Node client cannot connect to it", () => {
  for (const url of ["ws://nats:8080", "wss://nats.example.com", "nats://nats-0:4222,wss://nats-1:443"]) {
    assert.throws(
      () => loadConfig({ env: { NATS_URL: url } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /nats\.url: one or more comma-separated URLs with scheme nats or tls\b/.test(error.message),
      url,
    );
  }
  assert.equal(loadConfig({ env: { NATS_URL: "tls://nats:4222" } }).config.nats.url, "tls://nats:4222");
});

test("a malformed SMTP_URL is a configuration error that names the variable and hides its value", () => {
  for (const smtpUrl of [
    "ops:hunter2@mail.example.com:587",
    "smtp//ops:hunter2@mail.example.com",
    "http://ops:hunter2@mail",
  ]) {
    assert.throws(
      () => loadConfig({ env: { SMTP_URL: smtpUrl } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /- SMTP_URL: expected smtp:\/\/user:password@host:587 or smtps:\/\//.test(error.message) &&
        !error.message.includes("hunter2"),
      smtpUrl,
    );
  }
  for (const smtpUrl of [
    "smtp://ops:hunter2@mail.example.com:587",
    "smtps://mail.example.com",
    "smtp://127.0.0.1:1025",
  ]) {
    assert.equal(loadConfig({ env: { SMTP_URL: smtpUrl } }).secrets.smtpUrl, smtpUrl);
  }
});

/** Asserts that `value` in variable `name` stops the start with `reason`, naming `path` and none of `secrets`. */
function refusesUrl(
  name: string,
  value: string,
  path: string,
  reason: string,
  secrets: readonly string[],
): void {
  assert.throws(
    () => loadConfig({ env: { [name]: value } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      new RegExp(
        `- ${path.replace(".", "\\.")}: .*${reason}.*\\(set by the environment variable ${name}\\)`,
      ).test(error.message) &&
      secrets.every((secret) => !error.message.includes(secret)),
    value,
  );
}

test("a NATS, Redis or SMTP URL without a host (one slash after the scheme) is refused at start, its password unshown", () => {
  // `redis:/:pw@host` parses as a URL with no host and the rest as its path: accepted, it was
  // printed whole by `config check` and the startup lines, and connected to nothing
  for (const [name, value, path] of [
    ["NATS_URL", "nats:/ops:hunter2@nats.example.com:4222", "nats.url"],
    ["NATS_URL", "nats://nats-0:4222,nats:/ops:hunter2@nats-1:4222", "nats.url"],
    ["REDIS_URL", "redis:/:hunter2@redis.example.com:6379", "redis.url"],
    ["REDIS_URL", "rediss:hunter2@redis.example.com", "redis.url"],
  ] as const) {
    refusesUrl(name, value, path, "with a host", ["hunter2"]);
  }
  assert.throws(
    () => loadConfig({ env: { SMTP_URL: "smtp:/ops:hunter2@mail.example.com:587" } }),
    (error: unknown) =>
      error instanceof ConfigError &&
      /- SMTP_URL: expected smtp:\/\/user:password@host:587/.test(error.message) &&
      !error.message.includes("hunter2"),
  );
  const ok = loadConfig({
    env: { NATS_URL: "nats://ops:hunter2@nats:4222", REDIS_URL: "rediss://:pw@redis:6380" },
  });
  assert.equal(ok.config.nats.url, "nats://ops:hunter2@nats:4222");
  assert.equal(ok.config.redis.url, "rediss://:pw@redis:6380");
});

test("a NATS or Redis URL whose user or password is not URL-encoded is refused at start, unshown", () => {
  // a generated password with a bare % (`p%zz`) cannot be decoded: NATS was then retried for
  // ever while every webhook went to the spool, and Redis stopped the start with "URI malformed"
  for (const [name, value, path] of [
    ["NATS_URL", "nats://ops:hun%zzter2@nats.example.com:4222", "nats.url"],
    ["NATS_URL", "nats://nats-0:4222,nats://hun%zzter2@nats-1:4222", "nats.url"],
    ["REDIS_URL", "redis://:hun%zzter2@redis.example.com:6379", "redis.url"],
    ["REDIS_URL", "rediss://op%s:hunter2@redis.example.com", "redis.url"],
  ] as const) {
    refusesUrl(name, value, path, "write % as %25", ["hun%zzter2", "hunter2"]);
  }
  const ok = loadConfig({
    env: { NATS_URL: "nats://ops:100%25%40x@nats:4222", REDIS_URL: "redis://:a%2Fb@redis:6379" },
  });
  assert.equal(ok.config.nats.url, "nats://ops:100%25%40x@nats:4222");
  assert.equal(ok.config.redis.url, "redis://:a%2Fb@redis:6379");
});
test("config/default.yaml names every setting that has a default, as docs/configuration.md says", () => {
  const shipped = parseYaml(
    readFileSync(new URL("../../config/default.yaml", import.meta.url), "utf8"),
  ) as unknown;
  const defaults = configSchema.parse({});
  const missing: string[] = [];
  const walk = (value: unknown, inFile: unknown, path: string): void => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      if (inFile === undefined) missing.push(path);
      return;
    }
    for (const [key, inner] of Object.entries(value)) {
      walk(inner, (inFile as Record<string, unknown> | undefined)?.[key], path ? `${path}.${key}` : key);
    }
  };
  walk(defaults, shipped, "");
  assert.deepEqual(missing, []);
  // and with the schema's values: the file ships a route, the schema none
  assert.deepEqual({ ...configSchema.parse(shipped), routes: [] }, defaults);
});

test("a rate limit window too short to limit anything is refused at start", () => {
  // window 0 was accepted and turned the webhook and wrong-token limits off without a word
  for (const limit of ["webhookRateLimit", "authRateLimit"]) {
    for (const window of [0, "0s", "500ms"]) {
      const message = configErrorOf(at(`server.${limit}.window`, window));
      assert.ok(message.includes(`server.${limit}.window: at least 1s`), message);
    }
    const { config } = loadConfig({ env: {}, overrides: at(`server.${limit}.window`, "1s") });
    assert.equal(config.server[limit as "authRateLimit"].window, 1000);
  }
});

test("an unknown key is answered with the keys that mapping takes, so a singular or a typo is found", () => {
  const refusal = (overrides: Record<string, unknown>): string => {
    try {
      loadConfig({ env: {}, overrides });
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return assert.fail("the configuration was accepted");
  };
  // `branch:` for `branches:` is the first route a new user writes wrong
  assert.match(
    refusal({ routes: [{ name: "x", match: { branch: ["main"] }, email: { to: ["a@example.com"] } }] }),
    /- routes\.0\.match: Unrecognized key: "branch" \(it takes repositories, branches, tags, pipelines, providers, kinds\)$/m,
  );
  assert.match(
    refusal({ routes: [{ name: "x", slack: { channel: "C0123456789", mentionAuther: false } }] }),
    /- routes\.0\.slack: Unrecognized key: "mentionAuther" \(it takes channel, mentionAuthor, threadFailures\)$/m,
  );
  assert.match(
    refusal({ server: { prot: 3000 } }),
    /- server: Unrecognized key: "prot" \(it takes host, port, /m,
  );
  assert.match(
    refusal({ route: [] }),
    /- \(top level\): Unrecognized key: "route" \(it takes role, server, nats, .*routes, log\)$/m,
  );
  assert.match(
    refusal({ people: [{ mail: "a@example.com" }] }),
    /- people\.0: Unrecognized key: "mail" \(it takes name, email, github, gitlab, slack\)$/m,
  );
});

test("a Slack token recheck longer than a timer can wait is refused at start, not asked every millisecond", () => {
  // Node runs a setTimeout beyond 2^31-1 ms (24.8 days) after 1 ms: a refused token's
  // auth.test would be asked about 500 times a second
  assert.match(
    configErrorOf(at("notify.slack.tokenRecheck", "30d")),
    /notify\.slack\.tokenRecheck: at most 24d/,
  );
  assert.equal(
    loadConfig({ env: {}, overrides: at("notify.slack.tokenRecheck", "24d") }).config.notify.slack
      .tokenRecheck,
    24 * 86_400_000,
  );
});

test("every duration a timer waits out is refused past 24d, instead of firing after 1 ms", () => {
  // server.shutdownGrace: 30d made SIGTERM exit 1 at once ("grace period exceeded") without
  // draining; the others would spin their timers or give up every call at once
  for (const path of [
    "server.requestTimeout",
    "server.shutdownGrace",
    "nats.publishTimeout",
    "nats.consumer.ackWait",
    "spool.flushInterval",
    "notify.slack.minInterval",
    "notify.slack.timeout",
  ]) {
    assert.match(
      configErrorOf(at(path, "30d")),
      new RegExp(`${path.replaceAll(".", "\\.")}: at most 24d`),
      path,
    );
    assert.doesNotThrow(() => loadConfig({ env: {}, overrides: at(path, "24d") }), path);
  }
});
