import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { createLogger, isoTime } from "../../src/observability/logger.ts";

/** Lines written by createLogger, their time left out. */
function logged(log: (logger: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  log(createLogger({ level: "info", secrets: [], write: (line) => lines.push(line) }));
  return lines.map((line) => line.replace(/"time":"[^"]+"/, '"time":"T"'));
}

const line = (fields: string): string =>
  `{"level":"info","time":"T","service":"buildcast",${fields},"msg":"m"}\n`;

test("fields named authorization, password, token, secret one level down are censored, and headers' cookies", () => {
  const boom = Object.assign(new Error("boom"), { token: "t", code: "E1" });
  const lines = logged((logger) => {
    logger.info(
      { smtp: { host: "h", password: "p" }, api: { authorization: "a", token: "t", secret: "s" } },
      "m",
    );
    logger.info(
      { headers: { authorization: "Bearer a", cookie: "c=1", accept: "*/*" }, other: { cookie: "c" } },
      "m",
    );
    logger.info({ err: boom }, "m");
    logger
      .child({ conn: { password: "p" } })
      .child({ job: { token: "t" } })
      .info("m");
  });
  assert.deepEqual(lines, [
    line(
      '"smtp":{"host":"h","password":"[REDACTED]"},"api":{"authorization":"[REDACTED]","token":"[REDACTED]","secret":"[REDACTED]"}',
    ),
    line(
      '"headers":{"authorization":"[REDACTED]","cookie":"[REDACTED]","accept":"*/*"},"other":{"cookie":"c"}',
    ),
    line(
      `"err":{"type":"Error","message":"boom","stack":${JSON.stringify(boom.stack)},"token":"[REDACTED]","code":"E1"}`,
    ),
    line('"conn":{"password":"[REDACTED]"},"job":{"token":"[REDACTED]"}'),
  ]);
  assert.equal(boom.token, "t", "the logged object itself is left alone");
});

test("lines are what pino's redact paths wrote, except that objects they could not copy are logged", () => {
  const reference: string[] = [];
  const redacting = pino(
    {
      base: { service: "buildcast" },
      timestamp: false,
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
    { write: (text: string) => reference.push(text.replace('"level":"info"', '"level":"info","time":"T"')) },
  );
  class Connection {
    host = "h";
    password = "p";
  }
  const cases: object[] = [
    {
      provider: "github",
      traceId: "abc",
      event: "workflow_run",
      deliveryId: "d",
      events: ["1", "2"],
      stored: 1,
      duplicates: 0,
      spooled: 0,
    },
    {
      token: "top-level",
      list: [{ token: "in an array" }],
      deep: { a: { token: "two levels" } },
      none: null,
      at: new Date(0),
    },
    { connection: new Connection(), frozen: Object.freeze({ secret: "s" }), gone: { token: undefined } },
    { err: new Error("plain"), errs: { err: "text" } },
  ];
  const lines = logged((logger) => cases.forEach((fields) => logger.info(fields, "m")));
  cases.forEach((fields) => redacting.info(fields, "m"));
  assert.deepEqual(lines, reference);
  // pino's redaction copies every object it is given, and a copy of a URL throws on its
  // `password` getter: the log call itself threw
  assert.deepEqual(
    logged((logger) => logger.info({ url: new URL("https://example.com/a") }, "m")),
    [line('"url":"https://example.com/a"')],
  );
});

test("the ISO time of a line is Date#toISOString's, across seconds and days", () => {
  let now = 0;
  const time = isoTime(() => now);
  for (const at of [
    0,
    7,
    42,
    999,
    1000,
    1001,
    59_999,
    60_000,
    86_399_999,
    86_400_000,
    Date.UTC(2026, 11, 2, 5, 33, 11, 5),
    Date.UTC(2026, 11, 2, 5, 33, 12, 120),
  ]) {
    now = at;
    assert.equal(time(), `,"time":"${new Date(at).toISOString()}"`);
  }
});
