import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { StartupError } from "../../src/gateway.ts";
import { startTestGateway } from "../helpers/gateway.ts";
import { startNats, startRedis, type TestServer } from "../helpers/servers.ts";

let nats: TestServer;
let redis: TestServer;
before(async () => {
  nats = await startNats();
  redis = await startRedis();
});
after(async () => {
  await nats.dispose();
  await redis.dispose();
});

interface Line {
  readonly level: number | string;
  readonly msg: string;
}

/** The log lines a gateway writes while it starts, with these secrets and this config. */
async function startupLinesWith(
  env: Record<string, string>,
  overrides: Record<string, unknown>,
): Promise<Line[]> {
  const gateway = await startTestGateway({ nats, redis, env, overrides });
  const lines = gateway.logs.map((line) => JSON.parse(line) as Line);
  await gateway.close();
  return lines;
}

/** The log lines a gateway writes while it starts, with these secrets and this role. */
const startupLines = (env: Record<string, string>, role = "all"): Promise<Line[]> =>
  startupLinesWith(env, { role });

const about = (lines: readonly Line[], variable: RegExp): Line[] =>
  lines.filter((line) => variable.test(line.msg));

test("a gateway that takes webhooks says at start which provider's webhooks it will refuse, and why", async () => {
  // `npm start` as a first try runs without secrets: every webhook is then a 401, and the
  // log said nothing of it (it did say that Slack and e-mail were off)
  const neither = await startupLines({ GITHUB_WEBHOOK_SECRET: "", GITLAB_WEBHOOK_TOKEN: "" });
  const warned = about(neither, /no webhook secret is set/);
  assert.equal(warned.length, 1, JSON.stringify(neither.map((line) => line.msg)));
  assert.match(warned[0]?.msg ?? "", /set GITHUB_WEBHOOK_SECRET and\/or GITLAB_WEBHOOK_TOKEN/);
  assert.equal(warned[0]?.level, "warn");

  const gitlabOnly = await startupLines({ GITHUB_WEBHOOK_SECRET: "", GITLAB_WEBHOOK_TOKEN: "a-token" });
  assert.deepEqual(
    about(gitlabOnly, /WEBHOOK/).map((line) => line.msg),
    ["GitHub webhooks are refused (401 not_configured): GITHUB_WEBHOOK_SECRET is not set"],
  );
  assert.equal(about(gitlabOnly, /no webhook secret/).length, 0);

  const githubOnly = await startupLines({ GITHUB_WEBHOOK_SECRET: "a-secret", GITLAB_WEBHOOK_TOKEN: "" });
  assert.deepEqual(
    about(githubOnly, /WEBHOOK/).map((line) => line.msg),
    ["GitLab webhooks are refused (401 not_configured): GITLAB_WEBHOOK_TOKEN is not set"],
  );
});

test("a webhook secret a comma split into a short value is warned of at start, without the value", async () => {
  const lines = await startupLines({ GITHUB_WEBHOOK_SECRET: "r9T!vQ2m#Lx8wPz4,k7" });
  const warned = about(lines, /GITHUB_WEBHOOK_SECRET holds 2 comma-separated values/);
  assert.equal(warned.length, 1, JSON.stringify(lines.map((line) => line.msg)));
  assert.equal(warned[0]?.level, "warn");
  assert.doesNotMatch(warned[0]?.msg ?? "", /k7|r9T/);
});

test("with both secrets set, or as a workers replica (which takes no webhooks), nothing is said of them", async () => {
  const both = await startupLines({ GITHUB_WEBHOOK_SECRET: "a-secret", GITLAB_WEBHOOK_TOKEN: "a-token" });
  assert.deepEqual(about(both, /WEBHOOK|webhook secret/), []);
  const workers = await startupLines({ GITHUB_WEBHOOK_SECRET: "", GITLAB_WEBHOOK_TOKEN: "" }, "workers");
  assert.deepEqual(about(workers, /WEBHOOK|webhook secret/), []);
});

test("the listening line names Redis only when the process uses it (Slack or e-mail on, consumers run)", async () => {
  const listening = (lines: readonly Line[]): Record<string, unknown> =>
    (lines.find((line) => line.msg === "buildcast is listening") ?? {}) as Record<string, unknown>;
  // notices off: nothing connects to Redis, and naming its URL read as if it did
  const off = listening(await startupLines({}));
  assert.equal(off.nats, nats.url);
  assert.equal("redis" in off, false, JSON.stringify(off));
  const on = listening(await startupLines({ SMTP_URL: "smtp://127.0.0.1:1" }));
  assert.equal(on.redis, redis.url);
  const ingress = listening(await startupLines({ SMTP_URL: "smtp://127.0.0.1:1" }, "ingress"));
  assert.equal("redis" in ingress, false, JSON.stringify(ingress));
});

test("a port another process holds stops startup saying to free it or set PORT", async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const { port } = taken.address() as AddressInfo;
  try {
    await assert.rejects(
      startTestGateway({ nats, redis, overrides: { server: { host: "127.0.0.1", port } } }),
      (error: Error) => {
        assert.ok(error instanceof StartupError, String(error));
        assert.match(error.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
        assert.match(
          error.message,
          /another process listens there: stop it, or set PORT \(or server\.port\) to a free port$/,
        );
        return true;
      },
    );
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});

test("a channel turned on that no route uses, or a route naming a Slack channel by name, is warned of at start", async () => {
  // config check said so, the gateway only "notices on": a Slack token with the default
  // routes (e-mail only) posts nothing, ever
  const token = { SLACK_BOT_TOKEN: "xoxb-test", SMTP_URL: "smtp://127.0.0.1:1" };
  const unused = await startupLines(token);
  const warned = unused.filter((line) => line.level === "warn").map((line) => line.msg);
  assert.ok(
    warned.includes(
      "SLACK_BOT_TOKEN is set, but no route sends to Slack: add slack: { channel: C… } to a route",
    ),
    JSON.stringify(warned),
  );
  const byName = await startupLinesWith(token, {
    routes: [{ name: "builds", slack: { channel: "#builds" }, email: { to: ["team@example.com"] } }],
  });
  assert.ok(
    byName.some(
      (line) =>
        line.level === "warn" && /route "builds" names Slack channel "#builds", not its id/.test(line.msg),
    ),
    JSON.stringify(byName.map((line) => line.msg)),
  );
  // the first `npm start`: no tokens, the default route; its e-mail route being off is said at info already
  const first = await startupLines({});
  assert.deepEqual(
    first.filter((line) => line.level === "warn").map((line) => line.msg),
    [],
  );
});
